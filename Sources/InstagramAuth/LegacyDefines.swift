import Foundation

/// The constants of the legacy script's `defines.php`, as configuration lines (`import-php`).
public enum LegacyDefines {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The keys the app id, the app secret and the redirect URI become.
    public static let keys = ["INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET", "INSTAGRAM_REDIRECT_URI"]

    /// `define('NAME', 'value')` calls whose name says app id, secret or redirect URI, by the key each
    /// becomes; the first definition of each wins.
    public static func constants(in php: String) -> [String: String] {
        let pattern = #"define\s*\(\s*['"]([A-Za-z0-9_]+)['"]\s*,\s*['"]([^'"]*)['"]\s*\)"#
        let regex = try! NSRegularExpression(pattern: pattern)
        var found: [String: String] = [:]
        for match in regex.matches(in: php, range: NSRange(php.startIndex..., in: php)) {
            guard let name = Range(match.range(at: 1), in: php), let value = Range(match.range(at: 2), in: php) else { continue }
            let constant = php[name].uppercased()
            let key: String? =
                if constant.contains("SECRET") { "INSTAGRAM_APP_SECRET" }
                else if constant.contains("REDIRECT") { "INSTAGRAM_REDIRECT_URI" }
                else if constant.hasSuffix("APP_ID") || constant.hasSuffix("CLIENT_ID") { "INSTAGRAM_APP_ID" }
                else { nil }
            if let key, found[key] == nil { found[key] = String(php[value]) }
        }
        return found
    }

    /// A configuration file holding the three constants, or why there is none. It reads back as exactly
    /// the constants: a value with spaces around it is written in quotes, and one with a line break,
    /// which no `KEY=value` line can hold, is refused.
    public static func configuration(from php: String, source: String) throws(Failure) -> String {
        var found = constants(in: php)
        let missing = keys.filter { found[$0] == nil }
        guard missing.isEmpty else {
            throw Failure(description: "\(source) defines no \(missing.joined(separator: ", ")) (looked for define('…APP_ID'|'…SECRET'|'…REDIRECT…', '…'))")
        }
        for key in keys {
            let value = found[key]!
            if value.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) {
                throw Failure(description: "\(source): the value for \(key) spans lines; write it into the configuration by hand")
            }
            if value != value.trimmingCharacters(in: .whitespaces) { found[key] = "\"\(value)\"" }
        }
        return """
            # instagram-auth configuration, from \(source).
            # The PHP script used the Basic Display API, which Instagram switched off in December 2024.
            # Move the app to "Instagram API with Instagram Login" and put its Instagram app id and
            # secret here; INSTAGRAM_API=basic-display keeps the legacy requests instead.
            INSTAGRAM_APP_ID=\(found["INSTAGRAM_APP_ID"]!)
            INSTAGRAM_APP_SECRET=\(found["INSTAGRAM_APP_SECRET"]!)
            INSTAGRAM_REDIRECT_URI=\(found["INSTAGRAM_REDIRECT_URI"]!)
            # Required: the Instagram usernames or user ids that may connect, comma separated, or * for
            # anyone. Write yours and remove the #:
            # INSTAGRAM_AUTH_ALLOWED_USERS=your.username

            """
    }
}
