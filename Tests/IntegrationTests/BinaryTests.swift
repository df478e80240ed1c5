import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The binary on its own: CGI mode and start-up refusals.
@Suite("The binary")
struct BinaryTests {
    func run(_ arguments: [String], environment: [String: String], input: String = "") async throws -> (status: Int32, out: String, err: String) {
        try await runToEnd(try Paths.product("instagram-auth"), arguments, environment: environment, input: input)
    }

    let configured = [
        "INSTAGRAM_APP_ID": "1234567890123456",
        "INSTAGRAM_APP_SECRET": "cgi-secret-value",
        "INSTAGRAM_REDIRECT_URI": "https://example.com/instagram/",
        "INSTAGRAM_AUTH_DATABASE": FileManager.default.temporaryDirectory.appendingPathComponent("cgi-\(UUID().uuidString).sqlite3").path,
        "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
    ]

    @Test func cgiModeAnswersOneRequest() async throws {
        var environment = configured
        environment.merge(["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "QUERY_STRING": ""]) { _, new in new }
        let page = try await run([], environment: environment)
        #expect(page.status == 0)
        #expect(page.out.hasPrefix("Status: 200 OK\r\n"))
        #expect(page.out.contains("Set-Cookie: __Secure-instagram_auth_browser="), "https: the name browsers keep for secure pages")
        #expect(page.out.contains("https://www.instagram.com/oauth/authorize?client_id=1234567890123456"))
        #expect(!page.out.contains("cgi-secret-value"))
        // The authorize page needs no database: CGI mode does not open it (nor start an HTTP client) for it.
        let database = try #require(environment["INSTAGRAM_AUTH_DATABASE"])
        #expect(!FileManager.default.fileExists(atPath: database))
        environment["QUERY_STRING"] = "result=unknown-ticket"
        let result = try await run([], environment: environment)
        #expect(result.out.hasPrefix("Status: 404 Not Found\r\n"))
        #expect(FileManager.default.fileExists(atPath: database))
        environment["QUERY_STRING"] = ""

        environment["REQUEST_METHOD"] = "POST"
        environment["CONTENT_LENGTH"] = "3"
        let post = try await run(["ignored-cgi-argument"], environment: environment, input: "a=b")
        #expect(post.out.hasPrefix("Status: 405 Method Not Allowed\r\n"))
        #expect(post.out.contains("Allow: GET, HEAD"))
    }

    @Test func cgiModeWithABrokenConfigurationSaysSoWithoutDetails() async throws {
        let page = try await run([], environment: ["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "INSTAGRAM_APP_SECRET": "cgi-secret-value"])
        #expect(page.out.hasPrefix("Status: 500"))
        #expect(page.err.contains("INSTAGRAM_APP_ID"))
        #expect(!page.out.contains("INSTAGRAM_APP_ID"))
    }

    @Test func serveRefusesAMissingOrUnsafeConfigurationNamingTheKey() async throws {
        let missing = try await run(["serve", "--listen", "127.0.0.1:1"], environment: ["INSTAGRAM_APP_SECRET": "x"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("INSTAGRAM_APP_ID"))

        var unsafe = configured
        unsafe["INSTAGRAM_REDIRECT_URI"] = "http://example.com/instagram/"
        let http = try await run(["serve", "--listen", "127.0.0.1:1"], environment: unsafe)
        #expect(http.status != 0)
        #expect(http.err.contains("INSTAGRAM_REDIRECT_URI"))
        #expect(!http.err.contains("cgi-secret-value"))
    }

    @Test func listeningBeyondLoopbackWithoutAnAllowListWarnsAndABadListIsRefused() async throws {
        let port = try freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("listen-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let responder = try Stack.launch(
            try Paths.product("instagram-auth"), ["serve", "--listen", "0.0.0.0:\(port)"], log: log, environment: configured)
        try await waitFor("the responder") { canConnect(port: port) }
        await Stack.stop(responder)
        let said = try String(contentsOf: log, encoding: .utf8)
        #expect(said.contains("beyond loopback, without FCGI_WEB_SERVER_ADDRS"), "\(said)")

        var listed = configured
        listed["FCGI_WEB_SERVER_ADDRS"] = "127.0.0.1, web1.example.com"
        let refused = try await run(["serve", "--listen", "127.0.0.1:\(port)"], environment: listed)
        #expect(refused.status != 0)
        #expect(refused.err.contains("FCGI_WEB_SERVER_ADDRS: \"web1.example.com\" is not an IPv4 or IPv6 address"), "\(refused.err)")
    }

    @Test func theResponderWritesNoCoreDump() async throws {
        try await withStack { stack in
            let limits = try String(contentsOfFile: "/proc/\(stack.responder.pid)/limits", encoding: .utf8)
            let core = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") })
            #expect(core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"], "\(core)")
        }
    }

    @Test func serveCGIModeAndCheckRefuseToStartWithoutSayingWhoMayConnect() async throws {
        var unsaid = configured
        unsaid["INSTAGRAM_AUTH_ALLOWED_USERS"] = nil
        let serve = try await run(["serve", "--listen", "127.0.0.1:1"], environment: unsaid)
        let check = try await run(["check"], environment: unsaid)
        for (refused, said) in [(serve, serve.err), (check, check.out)] {
            #expect(refused.status != 0)
            #expect(said.contains("INSTAGRAM_AUTH_ALLOWED_USERS: is required") && said.contains("* for anyone"), "\(said)")
        }
        unsaid.merge(["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "QUERY_STRING": ""]) { _, new in new }
        let cgi = try await run([], environment: unsaid)
        #expect(cgi.out.hasPrefix("Status: 500"))
        #expect(cgi.err.contains("INSTAGRAM_AUTH_ALLOWED_USERS"))
    }

    @Test func importsTheLegacyDefinesFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("php-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let defines = folder.appendingPathComponent("defines.php").path
        try """
            <?php
                // instagram app details
                define( 'INSTAGRAM_APP_ID', '1234567890123456' );
                define( 'INSTAGRAM_APP_SECRET', "php-secret-value" );
                define( 'INSTAGRAM_APP_REDIRECT_URI', 'https://example.com/instagram/index.php' );
            """.write(toFile: defines, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("instagram-auth.conf").path
        let imported = try await run(["import-php", defines, "--output", output], environment: [:])
        #expect(imported.status == 0, "\(imported.err)")
        let mode = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(text.contains("INSTAGRAM_APP_ID=1234567890123456\nINSTAGRAM_APP_SECRET=php-secret-value\nINSTAGRAM_REDIRECT_URI=https://example.com/instagram/index.php\n"))
        // The result is a configuration the program accepts once it says who may connect.
        let checkEnvironment = [
            "INSTAGRAM_AUTH_DATABASE": folder.appendingPathComponent("a.sqlite3").path, "INSTAGRAM_HTTP_TIMEOUT": "1",
            "INSTAGRAM_OAUTH_BASE_URL": "http://127.0.0.1:9", "INSTAGRAM_API_BASE_URL": "http://127.0.0.1:9",
            "INSTAGRAM_GRAPH_BASE_URL": "http://127.0.0.1:9",
        ]
        #expect(text.contains("# INSTAGRAM_AUTH_ALLOWED_USERS="))
        #expect(imported.err.contains("set INSTAGRAM_AUTH_ALLOWED_USERS"))
        let unsaid = try await run(["check", "--config", output], environment: checkEnvironment)
        #expect(unsaid.status != 0 && unsaid.out.contains("FAIL configuration: INSTAGRAM_AUTH_ALLOWED_USERS"))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("INSTAGRAM_AUTH_ALLOWED_USERS=shop.owner\n".utf8))
        try handle.close()
        let checked = try await run(["check", "--config", output], environment: checkEnvironment)
        #expect(checked.out.contains("ok   configuration: instagram-login, app 1234567890123456, redirect URI https://example.com/instagram/index.php"))

        let again = try await run(["import-php", defines, "--output", output], environment: [:])
        #expect(again.status != 0, "an existing file is not overwritten")
        try "<?php define('SOMETHING', 'x');".write(toFile: defines, atomically: true, encoding: .utf8)
        let incomplete = try await run(["import-php", defines], environment: [:])
        #expect(incomplete.status != 0)
        #expect(incomplete.err.contains("INSTAGRAM_APP_ID"))
    }

    @Test func accountsAndTokenNeedOnlyTheDatabase() async throws {
        let database = FileManager.default.temporaryDirectory.appendingPathComponent("only-\(UUID().uuidString).sqlite3").path
        let listed = try await run(["accounts"], environment: ["INSTAGRAM_AUTH_DATABASE": database])
        #expect(listed.status == 0, "\(listed.err)")
        #expect(listed.out.contains("No account is connected yet."))
        let token = try await run(["token"], environment: ["INSTAGRAM_AUTH_DATABASE": database])
        #expect(token.status != 0)
        #expect(token.err.contains("no account is connected yet"))
        let relative = try await run(["accounts"], environment: ["INSTAGRAM_AUTH_DATABASE": "accounts.sqlite3"])
        #expect(relative.status != 0)
        #expect(relative.err.contains("INSTAGRAM_AUTH_DATABASE"))
    }

    @Test func helpDescribesTheCommands() async throws {
        let help = try await run(["serve", "--help"], environment: [:])
        for option in ["--socket", "--listen", "--socket-mode", "--socket-owner", "--workers", "--config"] {
            #expect(help.out.contains(option))
        }
    }
}
