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
        let base = "http://127.0.0.1:\(emulatorPort)"
        let settings = [
            "INSTAGRAM_APP_ID": Stack.appID, "INSTAGRAM_APP_SECRET": Stack.appSecret, "INSTAGRAM_REDIRECT_URI": redirectURI,
            "INSTAGRAM_OAUTH_BASE_URL": base, "INSTAGRAM_API_BASE_URL": base, "INSTAGRAM_GRAPH_BASE_URL": base,
            "INSTAGRAM_HTTP_TIMEOUT": "3", "INSTAGRAM_AUTH_STATE_SECRET": Stack.stateSecret,
            "INSTAGRAM_AUTH_DATABASE": database, "INSTAGRAM_AUTH_DATABASE_PASSWORD_FILE": passwordFile,
        ]
        configPath = folder.appendingPathComponent("instagram-auth.conf").path
        try settings.map { "\($0.key)=\($0.value)\n" }.joined().write(toFile: configPath, atomically: true, encoding: .utf8)

        // Each host: the shipped location block, pointed at its own responder.
        let example = try String(contentsOf: Paths.repository.appendingPathComponent("nginx/instagram-auth.conf"), encoding: .utf8)
        var hostPorts: [Host: Int] = [:]
        var servers = ""
        for host in Host.allCases {
            let socket = Self.socket(host, in: folder)
            responders[host] = try await Self.launchResponder(host, folder: folder, configPath: configPath)
            let hostPort = try freePort()
            hostPorts[host] = hostPort
            let location = example.replacingOccurrences(of: "unix:/run/instagram-auth/instagram-auth.sock", with: "unix:\(socket)")
                .replacingOccurrences(of: "include fastcgi_params;", with: "include /etc/nginx/fastcgi_params;")
            servers += "server {\n listen 127.0.0.1:\(hostPort);\n server_name localhost;\n\(location)\n}\n"
        }
        let nginxFolder = folder.appendingPathComponent("nginx").path
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

@Suite("Several hosts sharing PostgreSQL", .serialized)
struct MultiHostTests {
    static let user = "@emulated.creator (17841405793187218)"

    @Test func aVisitorWhoStartsOnOneHostAndReturnsToAnotherIsConnectedOnce() async throws {
        try await withCluster { cluster in
            let browser = Browser()
            let callback = try await cluster.authorize(on: .a, browser: browser)
            // The state host a signed verifies on host b; the result, stored by b, shows on a.
            let redirect = try await cluster.send(callback, on: .b, browser: browser)
            #expect(redirect.status == 303)
            let result = try await cluster.visit(callback, on: .b, browser: browser, resultHost: .a)
            #expect(result.status == 200)
            #expect(result.body.contains(Self.user))
            #expect(try await cluster.requests("/oauth/access_token") == 1)
            #expect(cluster.responderLog(.a).contains("postgres://instagram_auth_test@127.0.0.1"))

            // Both hosts see one account; so do the commands, on the same database.
            let listed = try await cluster.command(["accounts", "--json"])
            #expect(listed.status == 0)
            let items = try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]]
            #expect(items?.count == 1 && items?.first?["username"] as? String == "emulated.creator")
            let token = try await cluster.command(["token", "emulated.creator"])
            #expect(token.status == 0 && token.out.hasPrefix("IGAA"))
            let check = try await cluster.command(["check"])
            #expect(check.status == 0, "\(check.out)")
            #expect(check.out.contains("ok   database postgres://instagram_auth_test@127.0.0.1:\(cluster.postgres.port)/"))
            #expect(check.out.contains("writable, schema v2: callback age index, 1 account(s)"))

            // Started as CGI, the binary reads the same store: an unknown result is "no longer available".
            let binary = try Paths.product("instagram-auth")
            let cgi = try await runToEnd(binary, [], environment: [
                "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "QUERY_STRING": "result=unknown-ticket",
                "INSTAGRAM_AUTH_CONFIG": cluster.configPath,
            ])
            #expect(cgi.out.hasPrefix("Status: 404") && cgi.out.contains("no longer available"), "\(cgi.out.prefix(300)) \(cgi.err)")

            // Connecting again from the other host updates the same account.
            let again = Browser()
            let second = try await cluster.visit(try await cluster.authorize(on: .b, browser: again), on: .a, browser: again)
            #expect(second.status == 200 && second.body.contains(Self.user))
            let rows = try await offPool { try cluster.postgres.psql(URL(string: cluster.database)!.lastPathComponent, "SELECT count(*) FROM account") }
            #expect(rows == "1")
        }
    }

    @Test func theSameCodeReachingBothHostsAtOnceIsExchangedOnceAndBothShowTheResult() async throws {
        try await withCluster { cluster in
            for round in 0..<3 {
                let browser = Browser()
                let callback = try await cluster.authorize(on: .a, browser: browser)
                // A slow Instagram keeps the first exchange open while the second host receives the code.
                _ = try await cluster.emulator(.POST, "/_emulator/fault?mode=slow&delay_ms=600&path=/oauth/access_token")
                let before = try await cluster.requests("/oauth/access_token")
                async let onA = cluster.visit(callback, on: .a, browser: browser)
                async let onB = cluster.visit(callback, on: .b, browser: browser)
                let (a, b) = try await (onA, onB)
                _ = try await cluster.emulator(.POST, "/_emulator/fault?mode=none")
                #expect(a.status == 200 && b.status == 200, "round \(round): \(a.status) \(b.status)")
                #expect(a.body.contains(Self.user) && b.body.contains(Self.user))
                #expect(!a.body.contains("already been used") && !b.body.contains("already been used"))
                #expect(try await cluster.requests("/oauth/access_token") == before + 1, "round \(round)")
            }
        }
    }

    @Test func refreshStartedOnEveryHostAtOnceRefreshesTheTokenOnce() async throws {
        try await withCluster { cluster in
            let browser = Browser()
            #expect(try await cluster.visit(try await cluster.authorize(on: .a, browser: browser), on: .a, browser: browser).status == 200)
            // Two days on, ten days before expiry: due.
            let store = try await PostgresAccountStore(try PostgresLocation(url: cluster.database))
            var account = try #require(try await store.account("emulated.creator"))
            let before = account.accessToken
            account.tokenObtainedAt = Date() - 2 * 86_400
            account.tokenExpiresAt = Date() + 10 * 86_400
            try await store.save(account)
            _ = try await cluster.emulator(.POST, "/_emulator/age-tokens?seconds=172800")
            // A slow Instagram keeps the first refresh open while the other runs read the account.
            _ = try await cluster.emulator(.POST, "/_emulator/fault?mode=slow&delay_ms=1500&path=/refresh_access_token")

            let runs = try await withThrowingTaskGroup(of: (status: Int32, out: String, err: String).self) { group in
                for _ in 0..<4 { group.addTask { try await cluster.command(["refresh"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for run in runs { #expect(run.status == 0, "\(run.out)\(run.err)") }
            #expect(runs.map(\.out).joined().components(separatedBy: ": refreshed").count - 1 == 1)
            #expect(try await cluster.requests("/refresh_access_token") == 1)
            let refreshed = try #require(try await store.account("emulated.creator"))
            #expect(refreshed.accessToken != before && refreshed.tokenExpiresAt > Date() + 59 * 86_400)
            await store.close()
        }
    }

    @Test func whileTheDatabaseIsDownPagesSayItAndNothingIsLostAndTheHostsRecoverOnTheirOwn() async throws {
        try await withCluster { cluster in
            let first = Browser()
            #expect(try await cluster.visit(try await cluster.authorize(on: .a, browser: first), on: .a, browser: first).status == 200)
            let browser = Browser()
            let callback = try await cluster.authorize(on: .b, browser: browser)
            let exchanged = try await cluster.requests("/oauth/access_token")

            try await offPool { try cluster.postgres.stop() }
            // The authorize page needs no database.
            for host in Cluster.Host.allCases {
                let start = try await cluster.send(cluster.redirectURI, on: host, browser: Browser())
                #expect(start.status == 200 && start.body.contains("/oauth/authorize"))
            }
            // The callback: a clear page, in time, and the code is not spent.
            let began = Date()
            let down = try await cluster.visit(callback, on: .a, browser: browser)
            #expect(down.status == 503)
            #expect(down.body.contains("could not be saved") && down.body.contains("Nothing was sent to Instagram yet"))
            #expect(Date().timeIntervalSince(began) < 12)
            // The server refuses connections: the page says so without waiting out the store's call limit,
            // for which the pool would keep the visitor waiting while it retries.
            let failure = try #require(cluster.responderLog(.a).split(separator: "\n").last { $0.contains("account store failed") })
            #expect(failure.contains("is unreachable: Connection refused"), "\(failure)")
            #expect(!failure.contains("did not answer within"), "\(failure)")
            #expect(try await cluster.requests("/oauth/access_token") == exchanged)
            // The commands report it and exit non-zero.
            let refresh = try await cluster.command(["refresh"])
            #expect(refresh.status != 0)
            #expect(
                refresh.err.contains("PostgreSQL at instagram_auth_test@127.0.0.1:\(cluster.postgres.port)/")
                    && refresh.err.contains("is unreachable: Connection refused"), "\(refresh.err)")
            let accounts = try await cluster.command(["accounts"])
            #expect(accounts.status != 0)
            let check = try await cluster.command(["check"])
            #expect(check.status == 1 && check.out.contains("FAIL database postgres://"))
            for host in Cluster.Host.allCases { #expect(cluster.responders[host]!.isRunning, "host \(host) stopped") }
            // A host (re)started while the database is down starts anyway, and serves its authorize page.
            try await cluster.restartResponder(.b)
            #expect(cluster.responders[.b]!.isRunning)
            #expect(try await cluster.send(cluster.redirectURI, on: .b, browser: Browser()).status == 200)
            #expect(cluster.responderLog(.b).contains("the database does not answer yet"))

            try await offPool { try cluster.postgres.startAgain() }
            // Reloading the callback finishes the connection, once the hosts have reconnected on their own.
            let restarted = Date()
            var reply = try await cluster.visit(callback, on: .b, browser: browser)
            while reply.status == 503, Date().timeIntervalSince(restarted) < 30 {
                try await Task.sleep(for: .milliseconds(500))
                reply = try await cluster.visit(callback, on: .b, browser: browser)
            }
            #expect(reply.status == 200 && reply.body.contains(Self.user), "\(reply.status) \(reply.body.prefix(400))")
            #expect(try await cluster.requests("/oauth/access_token") == exchanged + 1)
            let other = Browser()
            let onA = try await cluster.visit(try await cluster.authorize(on: .a, browser: other), on: .a, browser: other)
            #expect(onA.status == 200)
            #expect(try await cluster.command(["refresh"]).status == 0)
            for host in Cluster.Host.allCases { #expect(cluster.responders[host]!.isRunning) }
        }
    }

    @Test func importAccountsCopiesASQLiteFileIntoPostgresWithoutOverwritingNewerTokens() async throws {
        let url = try await offPool { try PostgresServer.shared.get().newDatabase() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("accounts.sqlite3").path
        let now = Date()
        func account(_ id: String, _ name: String, token: String, obtained: Date) -> Account {
            Account(
                userID: id, username: name, accessToken: token, isLongLived: true, tokenObtainedAt: obtained,
                tokenExpiresAt: obtained + 60 * 86_400, connectedAt: obtained - 86_400)
        }
        let sqlite = try SQLiteAccountStore(path: file)
        try await sqlite.save(account("1001", "first.shop", token: "IGAAold-first", obtained: now - 3 * 86_400))
        try await sqlite.save(account("1002", "second.shop", token: "IGAAold-second", obtained: now - 3 * 86_400))
        var gone = account("1003", "gone.shop", token: "IGAAold-gone", obtained: now - 5 * 86_400)
        gone.status = .needsAuthorization
        gone.statusDetail = "token rejected"
        try await sqlite.save(gone)
        // The new store already refreshed one of them.
        let postgres = try await PostgresAccountStore(try PostgresLocation(url: url))
        try await postgres.save(account("1002", "second.shop", token: "IGAAnewer-second", obtained: now - 3600))

        let config = folder.appendingPathComponent("instagram-auth.conf").path
        try "INSTAGRAM_AUTH_DATABASE=\(url)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let binary = try Paths.product("instagram-auth")
        let run = try await runToEnd(binary, ["import-accounts", file, "--config", config], environment: [:])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("@first.shop (1001): copied"))
        #expect(run.out.contains("@second.shop (1002): kept"))
        #expect(run.out.contains("@gone.shop (1003): copied (needs_authorization"))
        #expect(run.out.contains("3 account(s) in \(file): 2 copied to postgres://instagram_auth_test@127.0.0.1"))
        #expect(!run.out.contains("IGAA"), "tokens are not printed")

        let copied = try await postgres.accounts()
        // Listed by username: first, gone, second.
        #expect(copied.map(\.userID) == ["1001", "1003", "1002"])
        let byID = Dictionary(uniqueKeysWithValues: copied.map { ($0.userID, $0) })
        #expect(byID["1001"]?.accessToken == "IGAAold-first")
        #expect(byID["1001"]?.connectedAt.timeIntervalSince1970.rounded() == (now - 4 * 86_400).timeIntervalSince1970.rounded())
        #expect(byID["1002"]?.accessToken == "IGAAnewer-second")
        #expect(byID["1003"]?.status == .needsAuthorization)

        // Again: nothing to copy. Into the same file: refused.
        let again = try await runToEnd(binary, ["import-accounts", file, "--config", config], environment: [:])
        #expect(again.status == 0 && again.out.contains("0 copied"))
        let same = try await runToEnd(binary, ["import-accounts", file], environment: ["INSTAGRAM_AUTH_DATABASE": file])
        #expect(same.status != 0 && same.err.contains("is the configured store already"))
        let missing = try await runToEnd(
            binary, ["import-accounts", folder.appendingPathComponent("none.sqlite3").path, "--config", config], environment: [:])
        #expect(missing.status != 0 && missing.err.contains("no such file"))
        await postgres.close()
    }

    @Test func aResponderWhoseDatabaseRefusesItStopsAtStartSayingWhy() async throws {
        let url = try await offPool { try PostgresServer.shared.get().newDatabase() }
        let missing = url.replacingOccurrences(of: "/t_", with: "/missing_")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("refused-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let binary = try Paths.product("instagram-auth")
        let run = try await runToEnd(
            binary, ["serve", "--socket", folder.appendingPathComponent("s.sock").path],
            environment: [
                "INSTAGRAM_APP_ID": Stack.appID, "INSTAGRAM_APP_SECRET": Stack.appSecret,
                "INSTAGRAM_REDIRECT_URI": "http://127.0.0.1:8080/instagram/", "INSTAGRAM_AUTH_DATABASE": missing,
            ])
        #expect(run.status != 0)
        #expect(run.err.contains("INSTAGRAM_AUTH_DATABASE") && run.err.contains("does not exist"), "\(run.err)")
    }
}
