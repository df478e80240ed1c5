import Accounts

extension Configuration {
    /// `INSTAGRAM_AUTH_TOKEN_KEY` (or `_FILE`): the key tokens are encrypted with at rest; nil when not set.
    static func tokenSealer(_ source: Source) throws(ConfigurationError) -> TokenSealer? {
        guard let secret = try source.secret("INSTAGRAM_AUTH_TOKEN_KEY") else { return nil }
        guard secret.utf8.count >= 32 else {
            throw ConfigurationError("INSTAGRAM_AUTH_TOKEN_KEY", "must be at least 32 characters (openssl rand -base64 32 makes one)")
        }
        return TokenSealer(secret: secret)
    }

    /// Only the token key: what the commands that need only the store (`accounts`, `token`, `forget`,
    /// `import-accounts`) read beside the database.
    public static func tokenSealer(environment: [String: String], configFile: String? = nil) throws(ConfigurationError) -> TokenSealer? {
        try tokenSealer(Source.load(environment: environment, configFile: configFile))
    }
}
