import Accounts
import Crypto
import Foundation
import InstagramAPI
import LogHandlers
import PostgresStore

/// A configuration that can't be used, naming the key at fault.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let problem: String
    public var description: String { "\(key): \(problem)" }

    public init(_ key: String, _ problem: String) {
        self.key = key
        self.problem = problem
    }
}

/// Everything the page needs, read from the environment and an optional `KEY=value` file.
public struct Configuration: Sendable {
    public var profile: APIProfile
    public var credentials: AppCredentials
    public var endpoints: Endpoints
    public var scopes: [String]
    /// The key that signs `state`.
    public var stateKey: [UInt8]
    /// Token requests one client address may cause per minute (`CallbackLimit`); 0 for no limit.
    public var callbackLimit: Int
    /// The Meta app's secret, for a `signed_request` it signs rather than the Instagram app secret.
    public var metaAppSecret: String?
    public var showToken: Bool
    /// How long a `state` (and so one authorization attempt) stays valid.
    public var stateLifetimeSeconds: Int
    public var templatesDirectory: String?
    public var httpTimeoutSeconds: Int
    /// Where connected accounts are kept: a SQLite file, or a PostgreSQL database.
    public var database: DatabaseLocation
    /// Encrypts tokens at rest (`INSTAGRAM_AUTH_TOKEN_KEY`); nil keeps them as Instagram gave them.
    public var tokenSealer: TokenSealer?
    /// Usernames (lower-cased, without `@`) and user ids allowed to connect; nil allows anyone (`*`).
    public var allowedUsers: Set<String>?
    /// The cached media feed's size, freshness and readers.
    public var feed: FeedSettings
    /// The command run when an account changes (`INSTAGRAM_AUTH_ON_CHANGE`, `ChangeHook`).
    public var onChange: String?
    /// The slow-request log, the status page's readers, the log format.
    public var monitoring: MonitoringSettings

    public static let defaultDatabasePath = "/var/lib/instagram-auth/accounts.sqlite3"

    /// Every key the program reads; a file naming any other `INSTAGRAM_` key is refused as a likely typo.
    public static let knownKeys: Set<String> = [
        "INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET", "INSTAGRAM_REDIRECT_URI", "INSTAGRAM_API",
        "INSTAGRAM_SCOPES", "INSTAGRAM_OAUTH_BASE_URL", "INSTAGRAM_API_BASE_URL", "INSTAGRAM_GRAPH_BASE_URL",
        "INSTAGRAM_AUTH_DATABASE", "INSTAGRAM_AUTH_DATABASE_PASSWORD", "INSTAGRAM_AUTH_META_APP_SECRET", "INSTAGRAM_AUTH_STATE_SECRET", "INSTAGRAM_AUTH_STATE_LIFETIME", "INSTAGRAM_AUTH_ALLOWED_USERS",
        "INSTAGRAM_AUTH_SHOW_TOKEN", "INSTAGRAM_AUTH_TEMPLATES", "INSTAGRAM_AUTH_CALLBACK_LIMIT", "INSTAGRAM_AUTH_TOKEN_KEY", "INSTAGRAM_HTTP_TIMEOUT", "INSTAGRAM_AUTH_CONFIG",
        "INSTAGRAM_AUTH_FEED_SIZE", "INSTAGRAM_AUTH_FEED_TTL", "INSTAGRAM_AUTH_FEED_ORIGINS", "INSTAGRAM_AUTH_FEED_FRAME_ANCESTORS", "INSTAGRAM_AUTH_MEDIA_DIR", "INSTAGRAM_AUTH_ON_CHANGE",
        "INSTAGRAM_AUTH_LOG_FORMAT", "INSTAGRAM_AUTH_SLOW_REQUEST", "INSTAGRAM_AUTH_STATUS_ALLOW",
    ]
    /// Keys whose value may come from a file named by `KEY_FILE`.
    public static let secretKeys: Set<String> = [
        "INSTAGRAM_APP_SECRET", "INSTAGRAM_AUTH_STATE_SECRET", "INSTAGRAM_AUTH_DATABASE_PASSWORD", "INSTAGRAM_AUTH_META_APP_SECRET",
        "INSTAGRAM_AUTH_TOKEN_KEY",
    ]

    /// Loads and checks the configuration. `configFile` (from `--config`) wins over `INSTAGRAM_AUTH_CONFIG`;
    /// the environment wins over the file.
    public static func load(environment: [String: String], configFile: String? = nil) throws(ConfigurationError) -> Configuration {
        try Configuration(Source.load(environment: environment, configFile: configFile))
    }

    /// How log lines are written, before anything else is read: `INSTAGRAM_AUTH_LOG_FORMAT` from the environment or
    /// the file; text when it says nothing (or when the file cannot be read: loading the configuration says why).
    public static func logFormat(environment: [String: String], configFile: String? = nil) throws(ConfigurationError) -> LogFormat {
        let source = (try? Source.load(environment: environment, configFile: configFile)) ?? Source(environment: environment, file: [:])
        return try MonitoringSettings.logFormat(source)
    }

    /// Only where the accounts are: what `accounts`, `token` and `import-accounts` need, without the app's keys.
    public static func database(environment: [String: String], configFile: String? = nil) throws(ConfigurationError) -> DatabaseLocation {
        try DatabaseLocation(Source.load(environment: environment, configFile: configFile))
    }

    init(_ source: Source) throws(ConfigurationError) {
        let profileName = source.value("INSTAGRAM_API") ?? APIProfile.instagramLogin.rawValue
        guard let profile = APIProfile(rawValue: profileName) else {
            throw ConfigurationError("INSTAGRAM_API", "must be instagram-login or basic-display, not \(profileName.debugDescription)")
        }
        self.profile = profile

        guard let appID = source.value("INSTAGRAM_APP_ID") else {
            throw ConfigurationError("INSTAGRAM_APP_ID", "is required: the Instagram app id from the app dashboard (Instagram > API setup)")
        }
        guard appID.allSatisfy(\.isASCIIDigit) else {
            throw ConfigurationError("INSTAGRAM_APP_ID", "must be the numeric Instagram app id")
        }
        guard let appSecret = try source.secret("INSTAGRAM_APP_SECRET") else {
            throw ConfigurationError("INSTAGRAM_APP_SECRET", "is required (or INSTAGRAM_APP_SECRET_FILE naming a file that holds it)")
        }
        guard let redirectURI = source.value("INSTAGRAM_REDIRECT_URI") else {
            throw ConfigurationError("INSTAGRAM_REDIRECT_URI", "is required: this page's public URL, exactly as registered at Instagram")
        }
        try Self.checkURL(redirectURI, key: "INSTAGRAM_REDIRECT_URI", isRedirectURI: true)
        credentials = AppCredentials(appID: appID, appSecret: appSecret, redirectURI: redirectURI)

        let defaults = Endpoints.defaults(for: profile)
        let oauth = source.value("INSTAGRAM_OAUTH_BASE_URL") ?? defaults.oauthBaseURL
        let api = source.value("INSTAGRAM_API_BASE_URL") ?? defaults.apiBaseURL
        let graph = source.value("INSTAGRAM_GRAPH_BASE_URL") ?? defaults.graphBaseURL
        try Self.checkURL(oauth, key: "INSTAGRAM_OAUTH_BASE_URL", isRedirectURI: false)
        try Self.checkURL(api, key: "INSTAGRAM_API_BASE_URL", isRedirectURI: false)
        try Self.checkURL(graph, key: "INSTAGRAM_GRAPH_BASE_URL", isRedirectURI: false)
        endpoints = Endpoints(oauthBaseURL: oauth, apiBaseURL: api, graphBaseURL: graph)

        scopes = try Self.scopes(source.value("INSTAGRAM_SCOPES"), profile: profile)

        if let secret = try source.secret("INSTAGRAM_AUTH_STATE_SECRET") {
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError("INSTAGRAM_AUTH_STATE_SECRET", "must be at least 32 characters")
            }
            stateKey = Array(secret.utf8)
        } else {
            let derived = HMAC<SHA256>.authenticationCode(
                for: Array("instagram-auth state key v1".utf8), using: SymmetricKey(data: Array(appSecret.utf8)))
            stateKey = Array(derived)
        }

        metaAppSecret = try source.secret("INSTAGRAM_AUTH_META_APP_SECRET")

        let limitText = source.value("INSTAGRAM_AUTH_CALLBACK_LIMIT") ?? "20"
        guard let limit = Int(limitText), (0...100_000).contains(limit) else {
            throw ConfigurationError(
                "INSTAGRAM_AUTH_CALLBACK_LIMIT", "must be a whole number of token requests per client address per minute (0 for no limit), not \(limitText.debugDescription)")
        }
        callbackLimit = limit

        let lifetimeText = source.value("INSTAGRAM_AUTH_STATE_LIFETIME") ?? "600"
        guard let lifetime = Int(lifetimeText), (1...3600).contains(lifetime) else {
            throw ConfigurationError(
                "INSTAGRAM_AUTH_STATE_LIFETIME", "must be whole seconds from 1 to 3600, not \(lifetimeText.debugDescription)")
        }
        stateLifetimeSeconds = lifetime

        switch source.value("INSTAGRAM_AUTH_SHOW_TOKEN") ?? "0" {
        case "0", "false", "no": showToken = false
        case "1", "true", "yes": showToken = true
        case let other: throw ConfigurationError("INSTAGRAM_AUTH_SHOW_TOKEN", "must be 0 or 1, not \(other.debugDescription)")
        }

        templatesDirectory = source.value("INSTAGRAM_AUTH_TEMPLATES")
        if let directory = templatesDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError("INSTAGRAM_AUTH_TEMPLATES", "\(directory) is not a folder")
            }
        }

        let timeoutText = source.value("INSTAGRAM_HTTP_TIMEOUT") ?? "10"
        guard let timeout = Int(timeoutText), (1...50).contains(timeout) else {
            throw ConfigurationError(
                "INSTAGRAM_HTTP_TIMEOUT", "must be whole seconds from 1 to 50 (below nginx's 60 s fastcgi_read_timeout), not \(timeoutText.debugDescription)")
        }
        httpTimeoutSeconds = timeout

        database = try DatabaseLocation(source)
        feed = try FeedSettings(source, database: database)
        onChange = source.value("INSTAGRAM_AUTH_ON_CHANGE")
        if let command = onChange {
            guard command.hasPrefix("/"), access(command, X_OK) == 0 else {
                throw ConfigurationError(
                    "INSTAGRAM_AUTH_ON_CHANGE", "must be the absolute path of an executable file (run without a shell or arguments), not \(command.debugDescription)")
            }
        }
        tokenSealer = try Self.tokenSealer(source)
        monitoring = try MonitoringSettings(source)

        // Who may connect is always said: left to a default, anyone's account could be connected to the site.
        guard let list = source.value("INSTAGRAM_AUTH_ALLOWED_USERS") else {
            throw ConfigurationError(
                "INSTAGRAM_AUTH_ALLOWED_USERS",
                "is required: the Instagram usernames or user ids that may connect, comma separated, or * for anyone; set it in the environment or as a line INSTAGRAM_AUTH_ALLOWED_USERS=… in the configuration file")
        }
        if list.trimmingCharacters(in: .whitespaces) == "*" {
            allowedUsers = nil
        } else {
            let names = list.split(whereSeparator: { $0 == "," || $0 == " " }).map {
                String($0.drop(while: { $0 == "@" })).lowercased()
            }.filter { !$0.isEmpty }
            guard !names.isEmpty else {
                throw ConfigurationError("INSTAGRAM_AUTH_ALLOWED_USERS", "names nobody; write * to allow anyone")
            }
            guard !names.contains("*") else {
                throw ConfigurationError("INSTAGRAM_AUTH_ALLOWED_USERS", "is * (anyone) or a list of accounts, not both")
            }
            allowedUsers = Set(names)
        }
    }

    private static func scopes(_ text: String?, profile: APIProfile) throws(ConfigurationError) -> [String] {
        guard let text else { return profile.defaultScopes }
        let scopes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !scopes.isEmpty else { throw ConfigurationError("INSTAGRAM_SCOPES", "names no scope") }
        for scope in scopes {
            guard scope.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw ConfigurationError("INSTAGRAM_SCOPES", "\(scope.debugDescription) is not a scope name")
            }
            if profile == .instagramLogin, scope.hasPrefix("business_") {
                throw ConfigurationError(
                    "INSTAGRAM_SCOPES", "\(scope) was retired on 2025-01-27; use instagram_\(scope)")
            }
            if profile == .instagramLogin, scope == "user_profile" || scope == "user_media" {
                throw ConfigurationError(
                    "INSTAGRAM_SCOPES", "\(scope) belongs to basic-display; instagram-login uses instagram_business_basic")
            }
        }
        return scopes
    }

    /// https, or http on a loopback host; a redirect URI also may not carry a query or fragment.
    static func checkURL(_ text: String, key: String, isRedirectURI: Bool) throws(ConfigurationError) {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            let host = url.host, !host.isEmpty
        else {
            throw ConfigurationError(key, "\(text.debugDescription) is not an absolute URL")
        }
        switch scheme {
        case "https": break
        case "http":
            guard isLoopback(host) else {
                throw ConfigurationError(key, "must use https; plain http is accepted only for a loopback host such as 127.0.0.1")
            }
        default:
            throw ConfigurationError(key, "must be an https URL")
        }
        if url.user != nil || url.password != nil {
            throw ConfigurationError(key, "must not carry a user name or password")
        }
        if isRedirectURI {
            if url.query != nil {
                throw ConfigurationError(key, "must not carry a query string: Instagram then fails to match it")
            }
            if url.fragment != nil {
                throw ConfigurationError(key, "must not carry a #fragment")
            }
        }
    }

    /// A literal loopback host: `localhost`, `127.0.0.0/8` or `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        let host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        // Literal loopback only: a name such as x.localhost is resolved by DNS, which may not say loopback.
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".")
        return octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Whether this account may connect: its user id or username is on the list, or there is no list.
    public func allows(userID: String, username: String?) -> Bool {
        guard let allowedUsers else { return true }
        return allowedUsers.contains(userID) || username.map { allowedUsers.contains($0.lowercased()) } == true
    }

    /// The path of the redirect URI, for the binding cookie's Path. Percent-encoded, as browsers request it:
    /// they send the cookie only to paths that start with it, so a decoded `%20` or `ü` would never match.
    /// A `;` cannot stand in a Path, so a path holding one is cut after the last `/` before it.
    public var redirectPath: String {
        var path = URLComponents(string: credentials.redirectURI)?.percentEncodedPath ?? "/"
        if let semicolon = path.firstIndex(of: ";") {
            let before = path[..<semicolon]
            path = before.lastIndex(of: "/").map { String(before[...$0]) } ?? "/"
        }
        return path.isEmpty ? "/" : path
    }

    /// The URL of the page's folder, with its last `/`: where the endpoints beside the page are.
    public var folderURL: String {
        let uri = credentials.redirectURI
        return uri.lastIndex(of: "/").map { String(uri[...$0]) } ?? uri + "/"
    }

    public var redirectIsHTTPS: Bool {
        credentials.redirectURI.lowercased().hasPrefix("https://")
    }
}

/// The environment over the file, with `KEY_FILE` for secrets.
struct Source {
    let environment: [String: String]
    let file: [String: String]

    /// The environment, and the file `configFile` (from `--config`) or `INSTAGRAM_AUTH_CONFIG` names, if any.
    static func load(environment: [String: String], configFile: String?) throws(ConfigurationError) -> Source {
        var fileValues: [String: String] = [:]
        if let path = configFile ?? environment["INSTAGRAM_AUTH_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            fileValues = try ConfigurationFile.read(path: path)
        }
        return Source(environment: environment, file: fileValues)
    }

    func value(_ key: String) -> String? {
        for layer in [environment, file] {
            if let value = layer[key]?.trimmingCharacters(in: .whitespaces), !value.isEmpty { return value }
        }
        return nil
    }

    func secret(_ key: String) throws(ConfigurationError) -> String? {
        for layer in [environment, file] {
            let direct = layer[key].flatMap { $0.isEmpty ? nil : $0 }
            let path = layer[key + "_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            if direct != nil, path != nil {
                throw ConfigurationError(key, "is set both directly and through \(key)_FILE; keep one")
            }
            if let direct { return direct }
            if let path {
                if let problem = FileExposure.problem(path) { throw ConfigurationError(key + "_FILE", problem) }
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ConfigurationError(key + "_FILE", "cannot read \(path)")
                }
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { throw ConfigurationError(key + "_FILE", "\(path) is empty") }
                return text
            }
        }
        return nil
    }
}

/// Where connected accounts are kept: `INSTAGRAM_AUTH_DATABASE` is an absolute path to a SQLite file
/// (the default), or a `postgres://` URL whose password may come from `INSTAGRAM_AUTH_DATABASE_PASSWORD`
/// (or `INSTAGRAM_AUTH_DATABASE_PASSWORD_FILE`) instead of the URL.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    init(_ source: Source) throws(ConfigurationError) {
        let text = source.value("INSTAGRAM_AUTH_DATABASE") ?? Configuration.defaultDatabasePath
        let password = try source.secret("INSTAGRAM_AUTH_DATABASE_PASSWORD")
        self = try Self(text, password: password)
    }

    public init(_ text: String, password: String? = nil) throws(ConfigurationError) {
        let key = "INSTAGRAM_AUTH_DATABASE"
        if PostgresLocation.isURL(text) {
            var location: PostgresLocation
            do {
                location = try PostgresLocation(url: text)
            } catch {
                throw ConfigurationError(key, error.description)
            }
            if let password {
                guard location.password == nil else {
                    throw ConfigurationError(key, "carries a password and INSTAGRAM_AUTH_DATABASE_PASSWORD is set too; keep one")
                }
                location.password = password
            }
            self = .postgres(location)
            return
        }
        guard password == nil else {
            throw ConfigurationError("INSTAGRAM_AUTH_DATABASE_PASSWORD", "is only for a postgres:// database")
        }
        guard text.hasPrefix("/") else {
            // A URL of another kind, or a misspelt one, may carry a password: it is never repeated.
            let shown = text.contains(":") || text.contains("@") ? "this value" : text.debugDescription
            throw ConfigurationError(key, "must be an absolute path to a SQLite file or a postgres:// URL, not \(shown)")
        }
        self = .sqlite(path: text)
    }

    /// For pages, logs and messages: the path, or the server without the password.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let location): "postgres://\(location.display)"
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
