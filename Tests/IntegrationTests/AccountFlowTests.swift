import Foundation
import InstagramAuth
import SQLiteStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Connected accounts through nginx, the store on disk, and the commands that use it.
@Suite("Accounts through nginx", .serialized)
struct AccountFlowTests {
    func connect(_ stack: Stack, browser: Browser = Browser()) async throws -> Stack.Reply {
        let (callback, _) = try await stack.authorize(browser: browser)
        return try await stack.request(callback, browser: browser)
    }

    @Test func aConnectionLeavesALongLivedTokenThatTheCommandsShow() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            let redirect = try await stack.request(callback, browser: browser, follow: false)
            #expect(redirect.status == 303)
            let result = try #require(redirect.headers.first(name: "Location"))
            #expect(result.hasPrefix(stack.redirectURI + "?result="))
            #expect(!result.contains("code="))

            let page = try await stack.request(result, browser: browser)
            #expect(page.status == 200)
            #expect(page.body.contains("@emulated.creator (17841405793187218)"))
            #expect(page.body.contains("Token valid until"))
            #expect(!page.body.contains("IGAA"))

            // Reloading the result, or the callback itself, shows the same success: no "code has been used".
            let reload = try await stack.request(result, browser: browser)
            #expect(reload.status == 200 && reload.body == page.body)
            let again = try await stack.request(callback, browser: browser)
            #expect(again.status == 200 && again.body == page.body)
            #expect(try await stack.tokenRequests() == 1)

            let listed = try await stack.command(["accounts"])
            #expect(listed.status == 0)
            #expect(listed.out.contains("@emulated.creator") && listed.out.contains("active"))
            let json = try await stack.command(["accounts", "--json"])
            let items = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]]
            #expect(items?.first?["username"] as? String == "emulated.creator")
            #expect(items?.first?["long_lived"] as? Bool == true)
            #expect(!json.out.contains("IGAA"), "listings never print tokens")

            let token = try await stack.command(["token"])
            #expect(token.status == 0)
            #expect(token.out.hasPrefix("IGAA"))
            #expect(try await stack.command(["token", "@emulated.creator"]).out == token.out)
            let unknown = try await stack.command(["token", "nobody"])
            #expect(unknown.status != 0)
            #expect(unknown.err.contains("no connected account nobody"))

            let mode = try FileManager.default.attributesOfItem(atPath: stack.databasePath)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test func theSameCodeArrivingTwiceAtOnceIsExchangedOnce() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            try await stack.emulatorControl("/_emulator/fault?mode=slow&delay_ms=800&path=/oauth/access_token")
            let pages = try await withThrowingTaskGroup(of: Stack.Reply.self) { group in
                for _ in 0..<4 { group.addTask { try await stack.request(callback, browser: browser) } }
                return try await group.reduce(into: [Stack.Reply]()) { $0.append($1) }
            }
            #expect(pages.allSatisfy { $0.status == 200 && $0.body.contains("@emulated.creator") })
            #expect(try await stack.tokenRequests() == 1)
        }
    }

    @Test func anAccountNotOnTheListIsRefusedAndNotStored() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_ALLOWED_USERS": "@someone.else, 42"])) { stack in
            let page = try await connect(stack)
            #expect(page.status == 403)
            #expect(page.body.contains("not on this site"))
            #expect(page.body.contains("@emulated.creator"))
            let listed = try await stack.command(["accounts"])
            #expect(listed.out.contains("No account is connected yet."))
            let token = try await stack.command(["token"])
            #expect(token.status != 0)
        }
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_ALLOWED_USERS": "Emulated.Creator"])) { stack in
            let page = try await connect(stack)
            #expect(page.status == 200)
        }
    }

    @Test func refreshRenewsDueTokensOnceEvenWhenRunTwiceAtOnce() async throws {
        try await withStack { stack in
            #expect(try await connect(stack).status == 200)
            let notDue = try await stack.command(["refresh"])
            #expect(notDue.status == 0)
            #expect(notDue.out.contains("not due"))

            // Two days later, ten days before expiry.
            let store = try SQLiteAccountStore(path: stack.databasePath)
            var account = try #require(try await store.account("emulated.creator"))
            let before = account.accessToken
            account.tokenObtainedAt = Date() - 2 * 86_400
            account.tokenExpiresAt = Date() + 10 * 86_400
            try await store.save(account)
            try await stack.emulatorControl("/_emulator/age-tokens?seconds=172800")

            let runs = try await withThrowingTaskGroup(of: (status: Int32, out: String, err: String).self) { group in
                for _ in 0..<2 { group.addTask { try await stack.command(["refresh"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.out))")
            #expect(runs.map(\.out).joined().components(separatedBy: ": refreshed").count - 1 <= 1)
            #expect(try await stack.tokenRequests("/refresh_access_token") == 1)
            let refreshed = try #require(try await store.account("emulated.creator"))
            #expect(refreshed.accessToken != before)
            #expect(refreshed.lastRefreshAt != nil)
            #expect(refreshed.tokenExpiresAt > Date() + 59 * 86_400)
            #expect(try await stack.command(["token"]).out == refreshed.accessToken + "\n")
        }
    }

    @Test func theShippedTimerAndCronLinesRunRefresh() async throws {
        try await withStack { stack in
            #expect(try await connect(stack).status == 200)
            let unit = try String(
                contentsOf: Paths.repository.appendingPathComponent("deploy/systemd/instagram-auth-refresh.service"), encoding: .utf8)
            let cron = try String(contentsOf: Paths.repository.appendingPathComponent("deploy/cron.d/instagram-auth"), encoding: .utf8)
            let execStart = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
            let cronLine = try #require(cron.split(separator: "\n").first { !$0.hasPrefix("#") && $0.contains("instagram-auth refresh") })
            for line in [String(execStart), String(cronLine)] {
                let words = line.split(separator: " ").map(String.init)
                let binary = try #require(words.firstIndex { $0.hasSuffix("/usr/local/bin/instagram-auth") })
                #expect(words.last == "/etc/instagram-auth.conf")
                // The same arguments, with this stack's configuration in place of /etc's.
                let run = try await stack.command(Array(words[(binary + 1)...].dropLast(2)))
                #expect(run.status == 0, "\(line): \(run.err)")
                #expect(run.out.contains("1 account(s): 0 refreshed, 1 not due"))
            }
        }
    }

    @Test func checkReportsWhatADeploymentNeeds() async throws {
        try await withStack { stack in
            let good = try await stack.command(["check"])
            #expect(good.status == 0, "\(good.out)")
            #expect(good.out.contains("ok   configuration: instagram-login"))
            #expect(good.out.contains("ok   database \(stack.databasePath): writable, schema v7: store check"))
            #expect(good.out.contains("ok   media folder \(URL(fileURLWithPath: stack.databasePath).deletingLastPathComponent().path)/media: writable"))
            #expect(good.out.contains("ok   http://127.0.0.1:\(stack.emulatorPort) answers"))
            #expect(!good.out.contains(Stack.appSecret))

            await stack.stopEmulator()
            let down = try await stack.command(["check"])
            #expect(down.status == 1)
            #expect(down.out.contains("FAIL http://127.0.0.1:\(stack.emulatorPort)"))

        }
        let broken = try await BinaryTests().run(["check"], environment: ["INSTAGRAM_APP_ID": "1"])
        #expect(broken.status == 1)
        #expect(broken.out.contains("FAIL configuration: INSTAGRAM_APP_SECRET"))
        let noFolder = try await BinaryTests().run(
            ["check"],
            environment: BinaryTests().configured.merging([
                "INSTAGRAM_AUTH_DATABASE": "/nonexistent/folder/a.sqlite3", "INSTAGRAM_HTTP_TIMEOUT": "1",
                "INSTAGRAM_OAUTH_BASE_URL": "http://127.0.0.1:9", "INSTAGRAM_API_BASE_URL": "http://127.0.0.1:9",
                "INSTAGRAM_GRAPH_BASE_URL": "http://127.0.0.1:9",
            ]) { _, new in new })
        #expect(noFolder.status == 1)
        #expect(noFolder.out.contains("FAIL database /nonexistent/folder/a.sqlite3: the folder /nonexistent/folder does not exist"))
    }

    @Test func aRevokedTokenIsReportedAndNeedsANewAuthorization() async throws {
        try await withStack { stack in
            #expect(try await connect(stack).status == 200)
            let store = try SQLiteAccountStore(path: stack.databasePath)
            var account = try #require(try await store.account("emulated.creator"))
            account.accessToken = "IGAArevokedByInstagram"
            account.tokenObtainedAt = Date() - 2 * 86_400
            account.tokenExpiresAt = Date() + 10 * 86_400
            try await store.save(account)

            let run = try await stack.command(["refresh"])
            #expect(run.status == 1)
            #expect(run.out.contains("NEEDS A NEW AUTHORIZATION"))
            #expect(run.out.contains("1 need a new authorization"))
            #expect(try await stack.command(["accounts"]).out.contains("needs_authorization"))
            let token = try await stack.command(["token"])
            #expect(token.status != 0)
            #expect(token.err.contains("needs a new authorization"))

            // Authorizing again brings the account back.
            #expect(try await connect(stack).status == 200)
            #expect(try await stack.command(["token"]).status == 0)
        }
    }

    @Test func aResponderKilledMidWriteLeavesAConsistentDatabase() async throws {
        try await withStack { stack in
            var callbacks: [(String, Browser)] = []
            for _ in 0..<12 {
                let browser = Browser()
                callbacks.append((try await stack.authorize(browser: browser).callback, browser))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (callback, browser) in callbacks {
                    group.addTask { _ = try? await stack.request(callback, browser: browser, follow: false) }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(60))
                    kill(stack.responder.pid, SIGKILL)
                }
                try await group.waitForAll()
            }
            let store = try SQLiteAccountStore(path: stack.databasePath)
            #expect(try await store.integrityCheck() == "ok")
            #expect(try await store.appliedMigrations() == ["v1: accounts and callbacks", "v2: callback age index", "v3: callback outcomes as meaning", "v4: deletions", "v5: a state used once", "v6: feeds", "v7: store check"])
            #expect(try await store.accounts().count <= 1)
            #expect(try await stack.command(["accounts"]).status == 0)
        }
    }
}
