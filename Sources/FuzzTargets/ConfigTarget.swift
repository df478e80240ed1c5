import Foundation
import InstagramAuth

/// The configuration file (`KEY=value` lines) and the checks `Configuration.load` makes on what it holds.
enum ConfigTarget {
    static let appSecret = "app-secret-marker-0aa6c1d9f3"
    static let longStateSecret = "state-secret-marker-7d41b2e08c5f93a6d1e4"
    static let shortStateSecret = "state-marker-55e1"
    static let databasePassword = "database-password-marker-3c9e17"

    /// Each secret key: the marker its fuzzed value becomes (given that value), and the file its `…_FILE`
    /// form is pointed at (the fuzzer never names a file to read), holding `fileMarker`.
    static let secretKeys: [(key: String, marker: @Sendable (String) -> String, file: String, fileMarker: String)] = [
        ("INSTAGRAM_APP_SECRET", { _ in appSecret }, Scratch.file("app-secret", contents: appSecret + "\n"), appSecret),
        (
            "INSTAGRAM_AUTH_STATE_SECRET", { $0.utf8.count >= 32 ? longStateSecret : shortStateSecret },
            Scratch.file("state-secret", contents: longStateSecret + "\n"), longStateSecret
        ),
        (
            "INSTAGRAM_AUTH_DATABASE_PASSWORD", { _ in databasePassword },
            Scratch.file("database-password", contents: databasePassword + "\n"), databasePassword
        ),
    ]

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let text = input.text
        let parsed = parse(text)

        // A file saved with CRLF line ends reads exactly as with LF.
        if !input.contains(13) {
            let crlf = input.flatMap { $0 == 10 ? [13, 10] : [$0] }.text
            let other = parse(crlf)
            try require(same(parsed, other), "with CRLF line ends \(text.shown) reads as \(describe(other)), not \(describe(parsed))")
        }

        guard case .success(let values) = parsed else { return }
        for (key, value) in values {
            let base = key.hasSuffix("_FILE") ? String(key.dropLast(5)) : key
            try require(
                Configuration.knownKeys.contains(key) || Configuration.secretKeys.contains(base), "unknown key \(key.shown) accepted")
            // (A CR may stand in a value between quotes: that is the file's content, not a line end.)
            try require(!value.unicodeScalars.contains("\n"), "\(key)'s value \(value.shown) spans lines")
        }

        // Writing the values back as KEY="value" lines and reading them gives the same values.
        if values.values.allSatisfy({ $0.unicodeScalars.allSatisfy { (0x20..<0x7F).contains($0.value) } }) {
            let written = values.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"\n" }.joined()
            let reread = parse(written)
            try require(same(parsed, reread), "\(describe(parsed)) written as \(written.shown) reads as \(describe(reread))")
        }

        // A line added after the file's last one is read, and wins over an earlier value of its key.
        let appended = parse(text + "\nINSTAGRAM_HTTP_TIMEOUT=7\n")
        var expected = values
        expected["INSTAGRAM_HTTP_TIMEOUT"] = "7"
        try require(same(appended, .success(expected)), "a line added to \(text.shown) gives \(describe(appended))")

        try load(values)
    }

    static func parse(_ text: String) -> Result<[String: String], ConfigurationError> {
        Result { () throws(ConfigurationError) in try ConfigurationFile.parse(text, name: "fuzz.conf") }
    }

    static func same(_ a: Result<[String: String], ConfigurationError>, _ b: Result<[String: String], ConfigurationError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)):
            x.count == y.count && x.allSatisfy { key, value in y[key].map { Array($0.utf8) } == Array(value.utf8) }
        case (.failure(let x), .failure(let y)): x == y
        default: false
        }
    }

    static func describe(_ result: Result<[String: String], ConfigurationError>) -> String {
        switch result {
        case .success(let values): values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.shown)" }.joined(separator: ", ")
        case .failure(let error): "error \(error.description.shown)"
        }
    }

    /// The values as a configuration, with the secrets swapped for markers that must never show up in an error.
    static func load(_ parsed: [String: String]) throws(InvariantViolation) {
        var values = parsed
        values["INSTAGRAM_AUTH_CONFIG"] = nil  // would name another file to read
        var secrets: [String] = []
        for secret in secretKeys {
            if let value = values[secret.key], !value.isEmpty {
                values[secret.key] = secret.marker(value)
                secrets.append(secret.marker(value))
            }
            if values[secret.key + "_FILE"]?.isEmpty == false {
                values[secret.key + "_FILE"] = secret.file
                secrets.append(secret.fileMarker)
            }
        }
        if let templates = values["INSTAGRAM_AUTH_TEMPLATES"], !templates.isEmpty {
            values["INSTAGRAM_AUTH_TEMPLATES"] = templates.count % 2 == 0 ? Scratch.folder : "/nonexistent/templates"
        }
        let others = values.filter { key, _ in !secretKeys.contains { key.hasPrefix($0.key) } }.values.joined(separator: "\n")

        let configuration: Configuration
        do {
            configuration = try Configuration.load(environment: values)
        } catch {
            for secret in secrets where !others.contains(secret) {
                try require(!error.description.contains(secret), "the refusal \(error.description.shown) shows a secret")
            }
            let base = error.key.hasSuffix("_FILE") ? String(error.key.dropLast(5)) : error.key
            try require(
                Configuration.knownKeys.contains(error.key) || Configuration.secretKeys.contains(base),
                "the refusal names \(error.key.shown), not a key")
            return
        }
        try check(configuration, secrets: secrets)
    }

    static func check(_ configuration: Configuration, secrets: [String]) throws(InvariantViolation) {
        let credentials = configuration.credentials
        try require(
            !credentials.appID.isEmpty && credentials.appID.unicodeScalars.allSatisfy { ("0"..."9").contains($0) },
            "app id \(credentials.appID.shown) accepted")
        try require(secrets.contains(credentials.appSecret), "the app secret is not the one configured")
        try require(configuration.stateKey.count >= 32, "a state key of \(configuration.stateKey.count) bytes accepted")
        try require((1...3600).contains(configuration.stateLifetimeSeconds), "state lifetime \(configuration.stateLifetimeSeconds)")
        try require((1...50).contains(configuration.httpTimeoutSeconds), "HTTP timeout \(configuration.httpTimeoutSeconds)")
        switch configuration.database {
        case .sqlite(let path): try require(path.hasPrefix("/"), "database path \(path.shown)")
        case .postgres(let location):
            try require(!location.host.isEmpty && !location.user.isEmpty && !location.database.isEmpty, "database \(configuration.database)")
            // What logs and pages show is built from the parts without the password.
            try require(
                configuration.database.description == "postgres://\(location.user)@\(location.host):\(location.port)/\(location.database)",
                "database shown as \(configuration.database.description.shown)")
        }
        try require(
            !configuration.scopes.isEmpty
                && configuration.scopes.allSatisfy { !$0.isEmpty && $0.unicodeScalars.allSatisfy(isScopeScalar) },
            "scopes \(configuration.scopes)")
        if let allowed = configuration.allowedUsers {
            try require(
                !allowed.isEmpty && allowed.allSatisfy { !$0.isEmpty && !$0.hasPrefix("@") && $0 == $0.lowercased() },
                "allowed users \(allowed)")
        }

        for (key, url) in [
            ("redirect URI", credentials.redirectURI), ("OAuth URL", configuration.endpoints.oauthBaseURL),
            ("API URL", configuration.endpoints.apiBaseURL), ("Graph URL", configuration.endpoints.graphBaseURL),
        ] {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                let host = components.host, !host.isEmpty
            else {
                throw InvariantViolation("the \(key) \(url.shown) is not an absolute URL")
            }
            try require(scheme == "https" || (scheme == "http" && isLoopback(host)), "the \(key) \(url.shown) is not https")
            try require(components.user == nil && components.password == nil, "the \(key) \(url.shown) carries a user")
        }
        let redirect = URLComponents(string: credentials.redirectURI)!
        try require(redirect.query == nil && redirect.fragment == nil, "the redirect URI \(credentials.redirectURI.shown) has a query")

        // The browser binding cookie: its Path attribute is plain, and the browser sends the cookie back
        // on its way to the redirect URI (RFC 6265 path-match against the path as the browser requests it).
        let cookiePath = configuration.redirectPath
        try require(
            cookiePath.hasPrefix("/") && !cookiePath.unicodeScalars.contains { $0 == ";" || $0.value < 0x20 || $0.value == 0x7F },
            "cookie Path \(cookiePath.shown) for \(credentials.redirectURI.shown)")
        let requestPath = redirect.percentEncodedPath.isEmpty ? "/" : redirect.percentEncodedPath
        try require(
            pathMatches(requestPath, cookiePath),
            "the cookie (Path=\(cookiePath.shown)) is not sent to \(credentials.redirectURI.shown) (path \(requestPath.shown))")
        try require(configuration.redirectIsHTTPS == (redirect.scheme?.lowercased() == "https"), "Secure flag for \(credentials.redirectURI.shown)")
    }

    /// RFC 6265 5.1.4.
    static func pathMatches(_ requestPath: String, _ cookiePath: String) -> Bool {
        let request = Array(requestPath.utf8), cookie = Array(cookiePath.utf8)
        if request == cookie { return true }
        guard request.starts(with: cookie) else { return false }
        return cookie.last == UInt8(ascii: "/") || request[cookie.count] == UInt8(ascii: "/")
    }

    static func isScopeScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_": true
        default: false
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") || host == "[::1]" || host == "::1" { return true }
        let octets = host.split(separator: ".")
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// A folder of this process's own for the files a target needs; removed when the process exits normally.
enum Scratch {
    static let folder: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("instagram-auth-fuzz-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.folder) }
        return path
    }()

    static func file(_ name: String, contents: String) -> String {
        let path = (folder as NSString).appendingPathComponent(name)
        // Private, as the program wants a file holding a secret.
        _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }
}
