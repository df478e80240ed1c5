import Accounts
import AsyncHTTPClient
import ChildProcess
import Foundation
import InstagramAPI
import InstagramAuth
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresStore
import SQLiteStore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two web hosts, each nginx with the shipped example in front of its own `instagram-auth serve`, behind
/// one load balancer (nginx proxying to one host or the other as a test header says), sharing one
/// PostgreSQL server of their own that the tests stop and start again. The redirect URI is the balancer's.
final class Cluster: @unchecked Sendable {
    enum Host: String, CaseIterable { case a, b }

    static let databasePassword = "DBPASSWORD-0123456789-never-shown"

    let folder: URL
    let port: Int
    let emulatorPort: Int
    let postgres: PostgresServer
    let database: String
    let configPath: String
    var redirectURI: String { "http://127.0.0.1:\(port)/instagram/" }
    private(set) var responders: [Host: ChildProcess] = [:]
    private var processes: [ChildProcess] = []
    let http: HTTPClient
    private let lock = NSLock()
    private var outputs: [String] = []

    init() async throws {
        guard let nginxPath = Paths.nginx else { throw StackError("nginx is not installed (scripts/install-deps installs it)") }
        let postgres = try await offPool { try PostgresServer.start() }
        self.postgres = postgres
        database = try await offPool { try postgres.newDatabase() }
        folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("ia-cluster-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        chmod(folder.path, 0o755)
        port = try freePort()
        emulatorPort = try freePort()
        let redirectURI = "http://127.0.0.1:\(port)/instagram/"

        processes.append(
            try Stack.launch(
                try Paths.product("instagram-emulator"),
                ["--listen", "127.0.0.1:\(emulatorPort)", "--app-id", Stack.appID, "--app-secret", Stack.appSecret,
                 "--redirect-uri", redirectURI],
                log: folder.appendingPathComponent("emulator.log")))
        let emulatorPort = emulatorPort
        try await waitFor("the emulator") { canConnect(port: emulatorPort) }

        // One configuration for every host, as a deployment copies it: the same app, the same state
        // secret, the same database; its password from a file.
        let passwordFile = folder.appendingPathComponent("database-password").path
        try Self.databasePassword.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
        let base = "http://127.0.0.1:\(emulatorPort)"
        let settings = [
            "INSTAGRAM_APP_ID": Stack.appID, "INSTAGRAM_APP_SECRET": Stack.appSecret, "INSTAGRAM_REDIRECT_URI": redirectURI,
            "INSTAGRAM_OAUTH_BASE_URL": base, "INSTAGRAM_API_BASE_URL": base, "INSTAGRAM_GRAPH_BASE_URL": base,
            "INSTAGRAM_HTTP_TIMEOUT": "3", "INSTAGRAM_AUTH_STATE_SECRET": Stack.stateSecret,
            "INSTAGRAM_AUTH_DATABASE": database, "INSTAGRAM_AUTH_DATABASE_PASSWORD_FILE": passwordFile,
            "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
            // One folder for both hosts' image copies, as the README says to share it.
            "INSTAGRAM_AUTH_MEDIA_DIR": folder.appendingPathComponent("media").path,
        ]
        configPath = folder.appendingPathComponent("instagram-auth.conf").path
        try settings.map { "\($0.key)=\($0.value)\n" }.joined().write(toFile: configPath, atomically: true, encoding: .utf8)
        chmod(configPath, 0o600)

        // Each host: the shipped location block, pointed at its own responder.
        let example = try String(contentsOf: Paths.repository.appendingPathComponent("nginx/instagram-auth.conf"), encoding: .utf8)
        let httpContext = try String(contentsOf: Paths.repository.appendingPathComponent("nginx/instagram-auth-http.conf"), encoding: .utf8)
        let nginxFolder = folder.appendingPathComponent("nginx").path
        var hostPorts: [Host: Int] = [:]
        var servers = ""
        for host in Host.allCases {
            let socket = Self.socket(host, in: folder)
            responders[host] = try await Self.launchResponder(host, folder: folder, configPath: configPath)
            let hostPort = try freePort()
            hostPorts[host] = hostPort
            let location = example.replacingOccurrences(of: "unix:/run/instagram-auth/instagram-auth.sock", with: "unix:\(socket)")
                .replacingOccurrences(of: "include fastcgi_params;", with: "include /etc/nginx/fastcgi_params;")
                .replacingOccurrences(of: "/var/log/nginx/access.log", with: "\(nginxFolder)/logs/access.log")
            servers += "server {\n listen 127.0.0.1:\(hostPort);\n server_name localhost;\n\(location)\n}\n"
        }
        try FileManager.default.createDirectory(atPath: nginxFolder + "/logs", withIntermediateDirectories: true)
        let configuration = """
            \(getuid() == 0 ? "user root;" : "")
            worker_processes 1;
            daemon off;
            pid \(nginxFolder)/nginx.pid;
            error_log \(nginxFolder)/logs/error.log info;
            events { worker_connections 1024; }
            http {
                access_log \(nginxFolder)/logs/access.log;
                client_body_temp_path \(nginxFolder)/client_body;
                fastcgi_temp_path \(nginxFolder)/fastcgi_temp;
                proxy_temp_path \(nginxFolder)/proxy_temp;
                uwsgi_temp_path \(nginxFolder)/uwsgi_temp;
                scgi_temp_path \(nginxFolder)/scgi_temp;
            \(httpContext)
                # The load balancer: host a unless the visitor's request says b.
                map $http_x_test_host $backend { default 127.0.0.1:\(hostPorts[.a]!); b 127.0.0.1:\(hostPorts[.b]!); }
                server {
                    listen 127.0.0.1:\(port);
                    location / { proxy_pass http://$backend; proxy_set_header Host $http_host; }
                }
            \(servers)
            }
            """
        let configFile = nginxFolder + "/nginx.conf"
        try configuration.write(toFile: configFile, atomically: true, encoding: .utf8)
        processes.append(try Stack.launch(nginxPath, ["-c", configFile, "-p", nginxFolder], log: folder.appendingPathComponent("nginx.out")))
        let port = port
        try await waitFor("nginx") { canConnect(port: port) }
        http = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(40))))
    }

    static func socket(_ host: Host, in folder: URL) -> String { folder.appendingPathComponent("\(host.rawValue).sock").path }

    /// `instagram-auth serve` for `host`, on its socket; waits for the socket.
    static func launchResponder(_ host: Host, folder: URL, configPath: String) async throws -> ChildProcess {
        let socket = socket(host, in: folder)
        let process = try Stack.launch(
            try Paths.product("instagram-auth"),
            ["serve", "--config", configPath, "--socket", socket, "--socket-mode", "0666", "--log-level", "debug"],
            log: folder.appendingPathComponent("responder-\(host.rawValue).log"), environment: [:])
        try await waitFor("responder \(host.rawValue)") { FileManager.default.fileExists(atPath: socket) }
        return process
    }

    /// Stops `host`'s responder (SIGTERM, as systemd does) and starts a new one.
    func restartResponder(_ host: Host) async throws {
        if let running = responders[host] { await Stack.stop(running) }
        responders[host] = try await Self.launchResponder(host, folder: folder, configPath: configPath)
    }

    func responderLog(_ host: Host) -> String {
        (try? String(contentsOf: folder.appendingPathComponent("responder-\(host.rawValue).log"), encoding: .utf8)) ?? ""
    }

    /// Everything a visitor or an operator saw: pages, and the commands' output (but `token`'s stdout).
    var seen: [String] { lock.withLock { outputs } }

    func shutdown() async {
        try? await http.shutdown()
        for process in processes + Array(responders.values) { await Stack.stop(process) }
        try? await offPool { [postgres] in try postgres.stop() }
        if ProcessInfo.processInfo.environment["KEEP_TEST_FOLDERS"] == nil {
            try? FileManager.default.removeItem(at: folder)
        }
    }

    // MARK: - Visiting

    /// A request through the balancer to `host`, following the page's redirects to itself (on `resultHost`).
    func visit(_ url: String, on host: Host, browser: Browser, resultHost: Host? = nil) async throws -> Stack.Reply {
        var reply = try await send(url, on: host, browser: browser)
        if reply.status == 303, let location = reply.headers.first(name: "Location"), location.hasPrefix(redirectURI) {
            reply = try await send(location, on: resultHost ?? host, browser: browser)
        }
        return reply
    }

    func send(_ url: String, on host: Host, browser: Browser) async throws -> Stack.Reply {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "X-Test-Host", value: host.rawValue)
        if let cookie = browser.cookieHeader { request.headers.add(name: "Cookie", value: cookie) }
        let response = try await http.execute(request, timeout: .seconds(40))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        browser.remember(response.headers)
        lock.withLock { outputs.append("\(response.status.code)\n\(response.headers)\n\(body)") }
        return Stack.Reply(status: Int(response.status.code), headers: response.headers, body: body, finished: Date())
    }

    /// The page on `host`, its authorize link, Allow at the emulator: the callback URL Instagram sends the browser to.
    func authorize(on host: Host, browser: Browser) async throws -> String {
        let start = try await send(redirectURI, on: host, browser: browser)
        guard start.status == 200 else { throw StackError("host \(host) answered \(start.status)") }
        let form = Stack.consentForm(link: try Stack.authorizeLink(in: start.body))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(emulatorPort)/oauth/authorize")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let decision = try await http.execute(request, timeout: .seconds(10))
        guard decision.status.code == 302, var location = decision.headers.first(name: "Location") else {
            throw StackError("no redirect from the consent page: \(decision.status)")
        }
        if let hash = location.firstIndex(of: "#") { location = String(location[..<hash]) }
        return location
    }

    func emulator(_ method: HTTPMethod, _ pathAndQuery: String) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(emulatorPort)\(pathAndQuery)")
        request.method = method
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { throw StackError("emulator \(pathAndQuery): \(response.status) \(body)") }
        return body
    }

    func requests(_ path: String) async throws -> Int {
        let counts = try JSONDecoder().decode([String: Int].self, from: Data(try await emulator(.GET, "/_emulator/stats").utf8))
        return counts[path] ?? 0
    }

    /// `instagram-auth` with the hosts' configuration, off the cooperative pool (several run at once).
    func command(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        let binary = try Paths.product("instagram-auth")
        let configPath = configPath
        let result = try await runToEnd(binary, arguments + ["--config", configPath], environment: [:])
        lock.withLock {
            outputs.append(result.err)
            if arguments.first != "token" { outputs.append(result.out) }
        }
        return result
    }
}

func withCluster(_ body: (Cluster) async throws -> Void) async throws {
    let cluster = try await Cluster()
    do {
        try await body(cluster)
    } catch {
        await cluster.shutdown()
        throw error
    }
    expectNoSecrets(
        logs: Cluster.Host.allCases.map(cluster.responderLog), seen: cluster.seen, showsTokens: false,
        secrets: [Stack.appSecret, Stack.stateSecret, Cluster.databasePassword])
    await cluster.shutdown()
}
