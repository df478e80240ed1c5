import Accounts
import AsyncHTTPClient
import Foundation
import InstagramAuth
import NIOSSL
import SQLiteStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The commands against `instagram-emulator --tls-cert --tls-key` serving a self-signed certificate: a real
/// Instagram behind a certificate that does not verify. Every call fails before anything is sent, and says why.
@Suite("Commands against an Instagram whose certificate does not verify", .serialized)
struct UntrustedInstagramTests {
    @Test func refreshAndCheckRefuseTheCertificateSayWhyAndExit1() async throws {
        let folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("ia-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["KEEP_TEST_FOLDERS"] == nil { try? FileManager.default.removeItem(at: folder) } }
        let certificate = folder.appendingPathComponent("instagram.pem").path
        let key = folder.appendingPathComponent("instagram.key").path
        let openssl = try await run(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", certificate, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(openssl.status == 0, "\(openssl.err)")

        let port = try freePort()
        let log = folder.appendingPathComponent("emulator.log")
        let emulator = try Stack.launch(
            try Paths.product("instagram-emulator"),
            ["--listen", "127.0.0.1:\(port)", "--app-id", Stack.appID, "--app-secret", Stack.appSecret, "--tls-cert", certificate,
             "--tls-key", key],
            log: log)
        defer { emulator.terminate() }
        // The port may answer a moment before the emulator's line reaches its log.
        let listening = "listening on https://127.0.0.1:\(port)"
        try await waitFor("the emulator") { canConnect(port: port) && ((try? String(contentsOf: log, encoding: .utf8))?.contains(listening) ?? false) }
        #expect(try String(contentsOf: log, encoding: .utf8).contains(listening))

        // An account whose token is due for a refresh.
        let database = folder.appendingPathComponent("accounts.sqlite3").path
        let store = try SQLiteAccountStore(path: database)
        let token = "IGAAstoredtoken0123456789abcdefghijklmnopqrstuvwxyz"
        let obtained = Date() - 2 * 86_400
        try await store.save(
            Account(
                userID: "17841405793187218", username: "emulated.creator", accessToken: token, isLongLived: true,
                tokenObtainedAt: obtained, tokenExpiresAt: Date() + 10 * 86_400, connectedAt: obtained))
        let before = try #require(try await store.account("emulated.creator"))
        let base = "https://127.0.0.1:\(port)"
        let config = folder.appendingPathComponent("instagram-auth.conf").path
        try """
            INSTAGRAM_APP_ID=\(Stack.appID)
            INSTAGRAM_APP_SECRET=\(Stack.appSecret)
            INSTAGRAM_REDIRECT_URI=http://127.0.0.1:9/instagram/
            INSTAGRAM_OAUTH_BASE_URL=\(base)
            INSTAGRAM_API_BASE_URL=\(base)
            INSTAGRAM_GRAPH_BASE_URL=\(base)
            INSTAGRAM_AUTH_DATABASE=\(database)
            INSTAGRAM_AUTH_ALLOWED_USERS=*
            INSTAGRAM_HTTP_TIMEOUT=2

            """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        let binary = try Paths.product("instagram-auth")

        let started = Date()
        let refresh = try await run(binary, ["refresh", "--config", config])
        #expect(Date().timeIntervalSince(started) < 2 + 3, "within the timeout")
        #expect(refresh.status == 1, "cron mails it, systemd marks the unit failed")
        #expect(
            refresh.out.contains(
                "@emulated.creator (17841405793187218): FAILED: The TLS connection to Instagram failed: its certificate could not be verified; nothing was sent"),
            "\(refresh.out)")
        #expect(refresh.out.contains("1 account(s): 0 refreshed, 0 not due, 0 busy elsewhere, 0 need a new authorization, 1 failed"))
        for output in [refresh.out, refresh.err] {
            #expect(!output.contains(token) && !output.contains(Stack.appSecret))
        }
        let after = try #require(try await store.account("emulated.creator"))
        #expect(after.accessToken == before.accessToken && after.tokenExpiresAt == before.tokenExpiresAt && after.status == .active)
        #expect(after.lastRefreshError?.contains("its certificate could not be verified") == true)

        let check = try await run(binary, ["check", "--config", config])
        #expect(check.status == 1)
        #expect(
            check.out.components(separatedBy: "FAIL \(base): The TLS connection to Instagram failed: its certificate could not be verified").count
                == 4, "each of the three base URLs: \(check.out)")

        // The emulator does serve HTTPS, to a client that trusts its certificate, and none of the calls above reached it.
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.file(certificate)]
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        do {
            let stats = try await client.execute(HTTPClientRequest(url: "\(base)/_emulator/stats"), timeout: .seconds(10))
            #expect(stats.status == .ok)
            let counts = try JSONDecoder().decode([String: Int].self, from: try await stats.body.collect(upTo: 1 << 16))
            #expect(counts["/refresh_access_token"] == nil && counts["/"] == nil, "\(counts)")
        } catch {
            Issue.record(error)
        }
        try await client.shutdown()
    }

    private func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await runToEnd(executable, arguments, environment: [:])
    }
}
