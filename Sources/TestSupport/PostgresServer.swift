import ChildProcess
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server from Debian's packages for the tests: on loopback, in a temporary folder
/// (as the `postgres` user when the tests run as root: PostgreSQL refuses root), stopped when the process
/// exits. `shared` serves every test that only needs a database of its own; a test that stops and
/// restarts the server starts one of its own.
public final class PostgresServer: Sendable {
    public let port: Int
    public let folder: String
    let bin: String
    let data: String
    public static let user = "instagram_auth_test"

    private static let started = StartedServers()

    public static let shared: Result<PostgresServer, PostgresServerError> = Result { () throws(PostgresServerError) in try start() }

    public struct PostgresServerError: Error, CustomStringConvertible {
        public let description: String
    }

    private init(port: Int, folder: String, bin: String) {
        self.port = port
        self.folder = folder
        self.bin = bin
        data = "\(folder)/data"
    }

    /// A new server of its own. Blocks while it starts: call it off the cooperative pool.
    public static func start() throws(PostgresServerError) -> PostgresServer {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }).last,
            FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/initdb")
        else {
            throw PostgresServerError(description: "PostgreSQL is not installed (scripts/install-deps installs it)")
        }
        let bin = "/usr/lib/postgresql/\(version)/bin"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot, let postgres = getpwnam("postgres") {
            chown(folder, postgres.pointee.pw_uid, postgres.pointee.pw_gid)
        }
        guard let port = try? freeLoopbackPort() else { throw PostgresServerError(description: "no free port on 127.0.0.1") }
        let server = PostgresServer(port: port, folder: folder, bin: bin)
        try run(asRoot, "\(bin)/initdb", ["-D", server.data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        try server.startAgain()
        started.add(pgCtl: "\(bin)/pg_ctl", data: server.data)
        return server
    }

    /// Starts the server (again, after `stop`), waiting until it accepts connections.
    public func startAgain() throws(PostgresServerError) {
        try Self.run(
            getuid() == 0, "\(bin)/pg_ctl",
            ["-D", data, "-l", "\(folder)/server.log", "-w", "-o",
             "-k \(folder) -p \(port) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"])
    }

    /// Stops the server at once, closing every connection (`pg_ctl stop -m fast`).
    public func stop() throws(PostgresServerError) {
        try Self.run(getuid() == 0, "\(bin)/pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
    }

    /// A new, empty database on the server: its URL.
    public func newDatabase() throws(PostgresServerError) -> String {
        let name = "t_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try Self.run(false, "\(bin)/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, name])
        return "postgres://\(Self.user)@127.0.0.1:\(port)/\(name)"
    }

    /// Runs SQL in `database` with psql; what it printed (unaligned, tuples only).
    public func psql(_ database: String, _ sql: String) throws(PostgresServerError) -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("psql-\(UUID().uuidString.prefix(8)).out").path
        defer { unlink(out) }
        try Self.run(
            false, "\(bin)/psql",
            ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-o", out, "-c", sql])
        return ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a command to its end (output to a file: the server pg_ctl starts would hold a pipe open for good).
    static func run(_ asPostgres: Bool, _ program: String, _ arguments: [String]) throws(PostgresServerError) {
        let argv = asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--", program] + arguments : [program] + arguments
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("pg-command-\(UUID().uuidString.prefix(8)).log").path
        defer { unlink(log) }
        let termination: ChildProcess.Termination
        do {
            termination = try ChildProcess.start(argv[0], Array(argv.dropFirst()), output: .file(log)).wait()
        } catch {
            throw PostgresServerError(description: error.description)
        }
        guard termination == .exited(0) else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw PostgresServerError(description: "\(program) \(arguments.joined(separator: " ")) failed (\(termination)): \(text)")
        }
    }
}

/// Every server started here, stopped when the process exits.
private final class StartedServers: @unchecked Sendable {
    private let lock = NSLock()
    private var servers: [(pgCtl: String, data: String)] = []
    private var registered = false

    func add(pgCtl: String, data: String) {
        let first: Bool = lock.withLock {
            servers.append((pgCtl, data))
            defer { registered = true }
            return !registered
        }
        if first {
            atexit { PostgresServer.stopAll() }
        }
    }

    var all: [(pgCtl: String, data: String)] { lock.withLock { servers } }
}

extension PostgresServer {
    fileprivate static func stopAll() {
        for server in started.all {
            try? run(getuid() == 0, server.pgCtl, ["-D", server.data, "-m", "immediate", "stop"])
        }
    }
}
