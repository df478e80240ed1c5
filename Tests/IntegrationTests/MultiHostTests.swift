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
            #expect(check.out.contains("writable, schema v7: store check, 1 account(s)"))

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

            let ready = cluster.redirectURI + "ready"
            #expect(try await cluster.send(ready, on: .a, browser: Browser()).status == 200)
            try await offPool { try cluster.postgres.stop() }
            try await Task.sleep(for: .seconds(1.1))  // ready's last answer serves probes for a second
            // A load balancer's readiness check says so in time, with the reason for a reader on this host.
            let notReady = try await cluster.send(ready, on: .a, browser: Browser())
            #expect(notReady.status == 503 && notReady.body.hasPrefix("not ready: the store"), "\(notReady.status) \(notReady.body)")
            #expect(try await cluster.send(cluster.redirectURI + "ping", on: .a, browser: Browser()).body == "pong\n")
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
            for host in Cluster.Host.allCases {
                #expect(try await cluster.send(ready, on: host, browser: Browser()).status == 200, "host \(host) ready again")
            }
            #expect(cluster.responderLog(.a).contains("not ready: the store") && cluster.responderLog(.a).contains("ready again"))
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
                "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
            ])
        #expect(run.status != 0)
        #expect(run.err.contains("INSTAGRAM_AUTH_DATABASE") && run.err.contains("does not exist"), "\(run.err)")
    }

    @Test func visitorsOnBothHostsAtOnceCauseOneFetchAndGetTheCopyAtOnce() async throws {
        try await withCluster { cluster in
            let browser = Browser()
            _ = try await cluster.visit(try await cluster.authorize(on: .a, browser: browser), on: .a, browser: browser)
            let feedURL = cluster.redirectURI + "feed.json"
            let first = try await cluster.send(feedURL, on: .b, browser: Browser())
            #expect(first.status == 200 && first.body.contains("\"stale\":false"))
            let fetches = try await cluster.requests("/me/media")
            #expect(fetches == 1, "the fetch the connection started; host b's visitor got its copy")
            // That fetch ends (its images copied) before the copy is made old.
            for _ in 0..<100 where !Cluster.Host.allCases.contains(where: { cluster.responderLog($0).contains("feed fetched") }) {
                try await Task.sleep(for: .milliseconds(100))
            }

            // The copy ages; Instagram is slow; twelve visitors ask on both hosts at once.
            let database = String(cluster.database.split(separator: "/").last ?? "")
            _ = try await offPool { try cluster.postgres.psql(database, "UPDATE feed SET fetched_at = fetched_at - 3600, attempted_at = attempted_at - 3600") }
            _ = try await cluster.emulator(.POST, "/_emulator/fault?mode=slow&delay_ms=1500&path=/me/media")
            try await Task.sleep(for: .milliseconds(300))
            let started = Date()
            let replies = try await withThrowingTaskGroup(of: Stack.Reply.self) { group in
                for index in 0..<12 { group.addTask { try await cluster.send(feedURL, on: index % 2 == 0 ? .a : .b, browser: Browser()) } }
                return try await group.reduce(into: [Stack.Reply]()) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 200 && $0.body.contains("\"stale\":true") })
            #expect(Date().timeIntervalSince(started) < 1.4, "nobody waited on the slow Instagram")
            try await Task.sleep(for: .seconds(2.5))
            #expect(try await cluster.requests("/me/media") == fetches + 1, "one fetch for every visitor on both hosts")
            let fresh = try await cluster.send(feedURL, on: .a, browser: Browser())
            #expect(fresh.body.contains("\"stale\":false"))
        }
    }
}
