import AsyncHTTPClient
import ChildProcess
import Foundation
import InstagramAPI
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real nginx (the shipped example), the real `instagram-auth serve` and the real emulator,
/// in a temporary folder on loopback ports.
final class Stack: @unchecked Sendable {
    static let appID = "1234567890123456"
    static let appSecret = "APPSECRET-0123456789abcdef-never-shown"
    static let stateSecret = "STATESECRET-0123456789abcdef-never-shown-either"

    let folder: URL
    let port: Int
    let emulatorPort: Int
    let path: String
    var redirectURI: String { "http://127.0.0.1:\(port)\(path)" }
    let otherRedirectURI: String
    let socketPath: String
    let configPath: String
    var databasePath: String { folder.appendingPathComponent("accounts.sqlite3").path }
    /// The web server's folder: its configuration, and its logs in `logs/`.
    let serverFolder: String
    private(set) var responder: ChildProcess!
    private var emulator: ChildProcess?
    private var server: ChildProcess!
    private let startup: Startup
    private let highDescriptors: Bool
    let showsTokens: Bool
    private let seenLock = NSLock()
    private var seenOutput: [String] = []

    /// Everything the page answered (status line, headers, body) and every command's stderr
    /// (and stdout, but for `token`, whose job is to print it), for the secrets check.
    var seen: [String] { seenLock.withLock { seenOutput } }

    private func saw(_ text: String) {
        seenLock.withLock { seenOutput.append(text) }
    }
    private var inheritedSocket: FileHandle?
    let http: HTTPClient

    struct Options {
        var example = "instagram-auth.conf"
        var path = "/instagram/"
        var settings: [String: String] = [:]
        /// Point the token endpoint at a port where nothing listens.
        var apiUnreachable = false
        var startup = Startup.socket
        /// The web server in front: nginx, apache, lighttpd or caddy (each from servers/ or nginx/).
        var server = "nginx"
        /// Start the responder (`.socket` startup) with descriptors 3…1100 already open, so every socket
        /// it opens or accepts is numbered above 1024.
        var highDescriptors = false
    }

    /// How the responder comes up.
    enum Startup {
        /// `serve --socket PATH`.
        case socket
        /// The listening socket is created here and handed over as fd 0, as spawn-fcgi does.
        case inheritedOnStdin
        /// As systemd socket activation: fd 3 with LISTEN_FDS=1 and LISTEN_PID.
        case systemdActivation
        /// No responder: fcgiwrap starts the binary as CGI for each request (nginx/cgi-fcgiwrap.conf).
        case cgi
    }

    init(_ options: Options = Options()) async throws {
        guard let nginxPath = Paths.nginx else { throw StackError("nginx is not installed (scripts/install-deps installs it)") }
        folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("ia-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        chmod(folder.path, 0o755)
        port = try freePort()
        emulatorPort = try freePort()
        path = options.path
        otherRedirectURI = "http://127.0.0.1:\(port)/elsewhere/"
        socketPath = folder.appendingPathComponent("instagram-auth.sock").path

        let emulatorLog = folder.appendingPathComponent("emulator.log")
        emulator = try Self.launch(
            try Paths.product("instagram-emulator"),
            ["--listen", "127.0.0.1:\(emulatorPort)", "--app-id", Self.appID, "--app-secret", Self.appSecret,
             "--redirect-uri", "http://127.0.0.1:\(port)\(path)", "--redirect-uri", otherRedirectURI],
            log: emulatorLog)
        let emulatorPort = emulatorPort
        try await waitFor("the emulator") { canConnect(port: emulatorPort) }

        let base = "http://127.0.0.1:\(emulatorPort)"
        var settings = [
            "INSTAGRAM_APP_ID": Self.appID,
            "INSTAGRAM_APP_SECRET": Self.appSecret,
            "INSTAGRAM_REDIRECT_URI": "http://127.0.0.1:\(port)\(path)",
            "INSTAGRAM_OAUTH_BASE_URL": base,
            "INSTAGRAM_API_BASE_URL": options.apiUnreachable ? "http://127.0.0.1:\(try freePort())" : base,
            "INSTAGRAM_GRAPH_BASE_URL": base,
            "INSTAGRAM_HTTP_TIMEOUT": "2",
            "INSTAGRAM_AUTH_STATE_SECRET": Self.stateSecret,
            "INSTAGRAM_AUTH_DATABASE": folder.appendingPathComponent("accounts.sqlite3").path,
            "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
        ]
        settings.merge(options.settings) { _, new in new }
        configPath = folder.appendingPathComponent("instagram-auth.conf").path
        try settings.map { "\($0.key)=\($0.value)\n" }.joined().write(toFile: configPath, atomically: true, encoding: .utf8)
        // It holds the app secret: private, or the program refuses it.
        chmod(configPath, 0o600)
        startup = options.startup
        showsTokens = settings["INSTAGRAM_AUTH_SHOW_TOKEN"] == "1"
        if options.startup == .inheritedOnStdin || options.startup == .systemdActivation {
            // Held here for the stack's life, as a process manager holds it: connections wait in its
            // backlog while the responder restarts.
            inheritedSocket = FileHandle(fileDescriptor: try Self.listeningUnixSocket(at: socketPath), closeOnDealloc: true)
        }
        highDescriptors = options.highDescriptors
        responder = try Self.spawnResponder(
            startup, folder: folder, configPath: configPath, socketPath: socketPath, inherited: inheritedSocket,
            highDescriptors: highDescriptors)
        let socketPath = socketPath
        try await waitFor("the responder's socket") { FileManager.default.fileExists(atPath: socketPath) }

        serverFolder = folder.appendingPathComponent(options.server).path
        let generatorArguments =
            options.server == "nginx"
            ? [
                Paths.repository.appendingPathComponent("scripts/nginx-conf").path, serverFolder,
                String(port), socketPath, options.startup == .cgi ? "cgi-fcgiwrap.conf" : options.example,
            ]
            : [
                Paths.repository.appendingPathComponent("scripts/server-conf").path, options.server, serverFolder,
                String(port), socketPath,
            ]
        let generated = try await runToEnd(
            "/bin/bash", generatorArguments,
            environment: ["PATH": "/usr/bin:/bin", "BINARY": try Paths.product("instagram-auth"), "CONFIG": configPath])
        guard generated.status == 0 else { throw StackError("generating the \(options.server) configuration failed: \(generated.err)") }
        let serverConfig = Data(generated.out.utf8)
        let serverConfigPath = folder.appendingPathComponent("\(options.server).conf").path
        try serverConfig.write(to: URL(fileURLWithPath: serverConfigPath))
        let serverLog = folder.appendingPathComponent("\(options.server).out")
        switch options.server {
        case "nginx":
            server = try Self.launch(nginxPath, ["-c", serverConfigPath, "-p", serverFolder], log: serverLog)
        case "apache":
            server = try Self.launch("/usr/sbin/apache2", ["-f", serverConfigPath, "-DFOREGROUND"], log: serverLog, environment: [:])
        case "lighttpd":
            server = try Self.launch("/usr/sbin/lighttpd", ["-D", "-f", serverConfigPath], log: serverLog, environment: [:])
        case "caddy":
            server = try Self.launch(
                "/usr/bin/caddy", ["run", "--config", serverConfigPath, "--adapter", "caddyfile"], log: serverLog,
                environment: ["HOME": serverFolder, "XDG_DATA_HOME": serverFolder, "XDG_CONFIG_HOME": serverFolder])
        default:
            throw StackError("unknown web server \(options.server)")
        }
        let port = port
        do {
            try await waitFor(options.server) { canConnect(port: port) }
        } catch {
            for process in [server, responder, emulator].compactMap({ $0 }) { await Self.stop(process) }
            let log = (try? String(contentsOf: serverLog, encoding: .utf8)) ?? ""
            throw StackError("\(options.server) did not start: \(log.suffix(2000))")
        }

        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(30)))
        // Many visitors at once: the default of 8 connections per host would queue them in the client.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Starts `instagram-auth serve` the way `startup` says.
    private static func spawnResponder(
        _ startup: Startup, folder: URL, configPath: String, socketPath: String, inherited: FileHandle?,
        highDescriptors: Bool = false
    ) throws -> ChildProcess {
        let responder: ChildProcess
        let binary = try Paths.product("instagram-auth")
        let arguments = ["serve", "--config", configPath, "--log-level", "debug"]
        let log = folder.appendingPathComponent("responder.log")
        switch startup {
        case .socket where highDescriptors:
            // Descriptors already open are left alone: the launcher keeps one of its own in the child.
            let fill = #"ulimit -n 4096; for ((i = 3; i <= 1100; i++)); do [ -e /proc/$$/fd/$i ] || eval "exec $i</dev/null"; done; exec "$@""#
            responder = try Self.launch(
                "/bin/bash", ["-c", fill, "bash", binary] + arguments + ["--socket", socketPath, "--socket-mode", "0666"],
                log: log, environment: [:])
        case .socket:
            responder = try Self.launch(
                binary, arguments + ["--socket", socketPath, "--socket-mode", "0666"], log: log, environment: [:])
        case .inheritedOnStdin, .systemdActivation:
            let input = inherited!
            if startup == .inheritedOnStdin {
                responder = try Self.launch(binary, arguments, log: log, environment: [:], input: input)
            } else {
                // What systemd does: the socket on fd 3, LISTEN_PID naming the process that serves it,
                // and the shipped service's command line (with this stack's configuration).
                let unit = try String(
                    contentsOf: Paths.repository.appendingPathComponent("deploy/systemd/instagram-auth.service"), encoding: .utf8)
                guard let execStart = unit.split(separator: "\n").first(where: { $0.hasPrefix("ExecStart=") }) else {
                    throw StackError("no ExecStart in instagram-auth.service")
                }
                let stackConfig = configPath
                let unitArguments = execStart.split(separator: " ").dropFirst().map {
                    $0 == "/etc/instagram-auth.conf" ? stackConfig : String($0)
                }
                let script = #"exec 3<&0 0</dev/null; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@""#
                responder = try Self.launch(
                    "/bin/bash", ["-c", script, "bash", binary] + unitArguments, log: log, environment: [:], input: input)
            }
        case .cgi:
            responder = try Self.launch("/usr/sbin/fcgiwrap", ["-s", "unix:\(socketPath)"], log: log, environment: [:])
        }
        return responder
    }

    /// `systemctl restart` for a socket-activated responder: SIGTERM, wait for it to finish what it
    /// accepted, start a new process on the same socket. Returns the old process's exit status.
    func restartResponder() async throws -> Int32 {
        guard inheritedSocket != nil else { throw StackError("only an inherited socket outlives the responder") }
        let status = await terminateResponder()
        responder = try Self.spawnResponder(
            startup, folder: folder, configPath: configPath, socketPath: socketPath, inherited: inheritedSocket,
            highDescriptors: highDescriptors)
        return status
    }

    static func listeningUnixSocket(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = FastCGIClient.unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1024) == 0 else { throw StackError("cannot listen on \(path)") }
        chmod(path, 0o666)
        return fd
    }

    /// Starts a server or other long-lived program, its output and errors appended to `log`;
    /// `environment` nil passes the tests' own.
    static func launch(
        _ executable: String, _ arguments: [String], log: URL, environment: [String: String]? = nil, input: FileHandle? = nil
    ) throws -> ChildProcess {
        try ChildProcess.start(
            executable, arguments, environment: environment.map(Paths.childEnvironment),
            input: input.map { .descriptor($0.fileDescriptor) } ?? .null, output: .file(log.path))
    }

    var responderLog: String {
        (try? String(contentsOf: folder.appendingPathComponent("responder.log"), encoding: .utf8)) ?? ""
    }

    /// Stops the responder as a service manager would, and waits for it.
    func terminateResponder() async -> Int32 {
        let responder = responder!
        responder.terminate()
        let ended = try? await offPool { responder.wait(seconds: 15) }
        return ended?.status ?? -1
    }

    /// SIGTERM, then SIGKILL after two seconds (fcgiwrap, for one, stays in accept() after SIGTERM).
    static func stop(_ process: ChildProcess) async {
        _ = try? await offPool { process.stop() }
    }

    func stopEmulator() async {
        guard let emulator else { return }
        emulator.terminate()
        _ = try? await offPool { emulator.wait(seconds: 20) }
        self.emulator = nil
    }

    func shutdown() async {
        try? await http.shutdown()
        for process in [server, responder, emulator].compactMap({ $0 }) {
            await Self.stop(process)
        }
        if ProcessInfo.processInfo.environment["KEEP_TEST_FOLDERS"] == nil {
            try? FileManager.default.removeItem(at: folder)
        }
    }

    // MARK: - HTTP

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var finished: Date
    }

    /// Like a browser: follows the page's redirects to itself (the 303 from a callback to its result).
    func request(
        _ url: String, method: HTTPMethod = .GET, form: [(String, String)]? = nil, browser: Browser? = nil, follow: Bool = true,
        headers: [(String, String)] = []
    ) async throws -> Reply {
        var reply = try await send(url, method: method, form: form, browser: browser, headers: headers)
        var hops = 0
        while follow, [301, 302, 303].contains(reply.status), let location = reply.headers.first(name: "Location"),
            location.hasPrefix("http://127.0.0.1:\(port)/"), hops < 3
        {
            reply = try await send(location, method: .GET, form: nil, browser: browser)
            hops += 1
        }
        return reply
    }

    func send(_ url: String, method: HTTPMethod, form: [(String, String)]?, browser: Browser?, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let cookie = browser?.cookieHeader { request.headers.add(name: "Cookie", value: cookie) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let body = FormEncoding.encode(form)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(40))
        let body = try await response.body.collect(upTo: 4 << 20)
        browser?.remember(response.headers)
        if url.hasPrefix("http://127.0.0.1:\(port)/") {
            saw("\(response.status.code)\n\(response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))\n\(String(buffer: body))")
        }
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: body), finished: Date())
    }

    /// The page, as seen through nginx.
    func page(_ query: String = "", browser: Browser? = nil, method: HTTPMethod = .GET) async throws -> Reply {
        try await request(redirectURI + (query.isEmpty ? "" : "?" + query), method: method, browser: browser)
    }

    func emulatorControl(_ pathAndQuery: String) async throws {
        let reply = try await request("http://127.0.0.1:\(emulatorPort)\(pathAndQuery)", method: .POST, form: [])
        guard reply.status == 200 else { throw StackError("emulator control \(pathAndQuery): \(reply.status) \(reply.body)") }
    }

    func tokenRequests(_ path: String = "/oauth/access_token") async throws -> Int {
        let reply = try await request("http://127.0.0.1:\(emulatorPort)/_emulator/stats")
        let counts = try JSONDecoder().decode([String: Int].self, from: Data(reply.body.utf8))
        return counts[path] ?? 0
    }

    /// Runs `instagram-auth` with this stack's configuration, as cron or a script would.
    func command(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        let result = try await runToEnd(try Paths.product("instagram-auth"), arguments + ["--config", configPath], environment: [:])
        saw(result.2)
        if arguments.first != "token" { saw(result.1) }
        return result
    }

    /// Opens the page, follows its authorize link to the emulator's consent page and clicks Allow (or Cancel);
    /// returns the callback URL Instagram sends the browser to, without the fragment a browser keeps to itself.
    func authorize(browser: Browser, allow: Bool = true, redirectURI: String? = nil) async throws -> (callback: String, state: String) {
        let start = try await page(browser: browser)
        guard start.status == 200 else { throw StackError("the page answered \(start.status)") }
        let link = try Self.authorizeLink(in: start.body)
        let consent = try await request(link)
        guard consent.status == 200, consent.body.contains("Allow") else {
            throw StackError("the emulator refused the authorize link: \(consent.status) \(consent.body)")
        }
        let query = Self.query(of: link)
        let decision = try await send(
            "http://127.0.0.1:\(emulatorPort)/oauth/authorize", method: .POST,
            form: Self.consentForm(link: link, allow: allow, redirectURI: redirectURI), browser: nil)
        guard decision.status == 302, var location = decision.headers.first(name: "Location") else {
            throw StackError("no redirect from the consent page: \(decision.status) \(decision.body)")
        }
        if let hash = location.firstIndex(of: "#") { location = String(location[..<hash]) }
        return (location, query["state"]!)
    }

    /// What the emulator's consent page posts when the visitor clicks Allow (or Cancel) for `link`.
    static func consentForm(link: String, allow: Bool = true, redirectURI: String? = nil) -> [(String, String)] {
        let query = query(of: link)
        return [
            ("redirect_uri", redirectURI ?? query["redirect_uri"]!), ("scope", query["scope"]!), ("state", query["state"]!),
            ("decision", allow ? "allow" : "deny"),
        ]
    }

    static func authorizeLink(in html: String) throws -> String {
        guard let range = html.range(of: #"href="([^"]*/oauth/authorize[^"]*)""#, options: .regularExpression) else {
            throw StackError("no authorize link in the page")
        }
        return String(html[range].dropFirst(6).dropLast()).replacingOccurrences(of: "&amp;", with: "&")
    }

    static func query(of url: String) -> [String: String] {
        var values: [String: String] = [:]
        for item in URLComponents(string: url)?.queryItems ?? [] { values[item.name] = item.value ?? "" }
        return values
    }
}
