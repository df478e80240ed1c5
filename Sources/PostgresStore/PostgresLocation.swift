import Foundation
import NIOSSL

/// Where a PostgreSQL store is: parsed from `postgres://user[:password]@host[:port]/database[?sslmode=…]`
/// (or `postgresql://`). The password may come from elsewhere (a `*_FILE` setting).
public struct PostgresLocation: Sendable, Equatable {
    public enum SSLMode: String, Sendable { case disable, require }
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    /// Why a URL names no PostgreSQL store this program can use.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether `text` names a PostgreSQL store rather than a SQLite file: the scheme in any case, as URLs allow.
    public static func isURL(_ text: String) -> Bool {
        let scheme = text.prefix { $0 != ":" }.lowercased()
        return (scheme == "postgres" || scheme == "postgresql") && text.dropFirst(scheme.count).hasPrefix("://")
    }

    public init(url text: String) throws(PostgresLocation.Invalid) {
        guard Self.isURL(text), let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw Invalid("must be postgres://user@host[:port]/database, or an absolute path to a SQLite file")
        }
        guard let user = url.user, !user.isEmpty else { throw Invalid("names no user (postgres://user@host/database)") }
        let database = String(url.path.dropFirst())
        guard !database.isEmpty, !database.contains("/") else { throw Invalid("names no database (postgres://user@host/database)") }
        self.host = host
        self.port = url.port ?? 5432
        self.user = user
        self.password = url.password.flatMap { $0.isEmpty ? nil : $0 }
        self.database = database
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host)
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value
        switch mode {
        case nil: sslMode = loopback ? .disable : .require
        case "disable": sslMode = .disable
        case "require", "verify-full": sslMode = .require
        default: throw Invalid("sslmode must be disable, require or verify-full (require verifies the certificate too)")
        }
    }

    /// TLS for anything but an explicit `sslmode=disable` (or loopback without sslmode): the certificate
    /// chain and host name are always verified. Nil: no TLS.
    func tls() -> TLSConfiguration? {
        switch sslMode {
        case .disable: return nil
        case .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            return configuration
        }
    }

    /// For messages: everything but the password.
    public var display: String { "\(user)@\(host):\(port)/\(database)" }
}
