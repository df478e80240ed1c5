import Foundation
import SQLiteStore
import TestSupport
import Testing

/// `ping`, `ready` and `status` through nginx, the slow-request log, and JSON log lines: what an operator points
/// Prometheus and a load balancer at.
@Suite("Monitoring, through nginx", .serialized)
struct MonitoringTests {
    func url(_ stack: Stack, _ path: String) -> String { "http://127.0.0.1:\(stack.port)/instagram/\(path)" }

    /// `status?json`, parsed.
    func status(_ stack: Stack) async throws -> [String: Any] {
        let reply = try await stack.request(url(stack, "status?json"))
        #expect(reply.status == 200 && reply.headers.first(name: "Content-Type") == "application/json")
        return try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
    }

    func server(_ status: [String: Any]) -> [String: Int] { status["server"] as? [String: Int] ?? [:] }

    /// How many calls to Instagram named `call` ended with `outcome`.
    func calls(_ status: [String: Any], _ call: String, _ outcome: String) -> Int {
        let calls = status["instagram_calls"] as? [[String: Any]] ?? []
        return calls.first { $0["call"] as? String == call && $0["outcome"] as? String == outcome }?["count"] as? Int ?? 0
    }

    @Test func pingAnswersAtOnceWhileCallbacksWaitOnAHangingInstagram() async throws {
        try await withStack { stack in
            let visitors = try await authorizedVisitors(stack, count: 8)
            try await stack.emulatorControl("/_emulator/fault?mode=hang&path=/oauth/access_token")
            async let callbacks = returnFromInstagram(stack, visitors)
            // The status request itself waits on the store too.
            var waiting = 0
            for _ in 0..<15 where waiting < 9 {
                try await Task.sleep(for: .milliseconds(100))
                waiting = server(try await status(stack))["requests_waiting"] ?? -1
            }
            #expect(waiting == 9, "every callback waits on Instagram")
            let started = Date()
            let ping = try await stack.request(url(stack, "ping"))
            #expect(ping.status == 200 && ping.body == "pong\n" && ping.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
            #expect(Date().timeIntervalSince(started) < 0.5, "ping waits for nothing")
            let during = try await status(stack)
            #expect(server(during)["requests_active"] ?? 0 >= 9, "the callbacks and this request")
            #expect(server(during)["requests_max_active"] ?? 0 >= 9)

            #expect(await callbacks.allSatisfy { $0 >= 500 }, "Instagram never answered")
            let after = try await status(stack)
            #expect(server(after)["requests_waiting"] == 1, "only this request")
            #expect(calls(after, "token", "timeout") == 8)
            #expect(calls(after, "token", "ok") == 0)
        }
    }

    @Test func statusCountsWhatALoadDidInEveryFormat() async throws {
        try await withStack { stack in
            let connected = try await AccountFlowTests().connect(stack)
            #expect(connected.status == 200)
            try await FeedTests().waitForFetches(stack)
            let before = try await status(stack)
            for _ in 0..<10 { #expect(try await stack.page().status == 200) }
            for _ in 0..<3 { #expect(try await stack.request(url(stack, "ping")).status == 200) }
            #expect(try await stack.request(url(stack, "nothing-here")).status == 404)
            // A connection that sends no FastCGI at all is counted and closed.
            let fd = try FastCGIClient.connect(stack.socketPath)
            try FastCGIClient.writeAll(fd, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            _ = try? FastCGIClient.readExactly(fd, 1)
            close(fd)
            let after = try await status(stack)
            let (first, second) = (server(before), server(after))
            // The first status request itself, then fourteen.
            #expect(second["requests_answered"]! - first["requests_answered"]! == 15)
            #expect(second["connections_accepted"]! - first["connections_accepted"]! == 16)
            #expect(second["requests_malformed"]! - first["requests_malformed"]! == 1)
            #expect(second["requests_active"] == 1, "only this request")
            var open = second["connections_open"] ?? -1
            for _ in 0..<10 where open != 1 {
                try await Task.sleep(for: .milliseconds(100))
                open = server(try await status(stack))["connections_open"] ?? -1
            }
            #expect(open == 1, "every connection but the status request's own is closed")
            #expect(after["mode"] as? String == "fastcgi")
            #expect(calls(after, "token", "ok") == 1 && calls(after, "long_lived", "ok") == 1 && calls(after, "profile", "ok") == 1)
            #expect(calls(after, "media", "ok") == 1 && calls(after, "image", "ok") >= 1)
            let accounts = try #require(after["accounts"] as? [[String: Any]])
            #expect(accounts.count == 1)
            let account = try #require(accounts.first)
            #expect(account["username"] as? String == "emulated.creator" && account["state"] as? String == "active")
            #expect(account["token_expires_at"] is String && account["feed_age_seconds"] is Int)
            #expect(!String(describing: after).contains("IGAA"), "no token")

            let text = try await stack.request(url(stack, "status"))
            #expect(text.status == 200 && text.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
            let answered = try #require(text.body.split(separator: "\n").first { $0.hasPrefix("requests answered:") })
            #expect(Int(answered.split(separator: " ").last ?? "") == second["requests_answered"]! + 1)
            #expect(text.body.contains("account @emulated.creator:") && text.body.contains("active, token until"))

            let metrics = try await stack.request(url(stack, "status?openmetrics"))
            #expect(metrics.headers.first(name: "Content-Type")?.hasPrefix("application/openmetrics-text; version=1.0.0") == true)
            #expect(metrics.body.hasSuffix("# EOF\n"))
            // Prometheus asks by Accept, without the query.
            let scraped = try await stack.request(
                url(stack, "status"),
                headers: [("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")])
            #expect(scraped.headers.first(name: "Content-Type") == metrics.headers.first(name: "Content-Type") && scraped.body.hasSuffix("# EOF\n"))
            let parsed = try await openMetrics(metrics.body)
            #expect(parsed["instagram_auth_requests_answered_total"]?.first?.value == Double(second["requests_answered"]! + 2))
            #expect(parsed["instagram_auth_instagram_calls_total"]?.contains { $0.labels == "call=token,outcome=ok" && $0.value == 1 } == true)
            #expect(parsed["instagram_auth_instagram_call_seconds_count"]?.contains { $0.labels == "call=token" && $0.value == 1 } == true)
            #expect(
                parsed["instagram_auth_account_state"]?.contains {
                    $0.labels == "state=active,user_id=17841405793187218,username=emulated.creator" && $0.value == 1
                } == true)
            #expect(parsed["instagram_auth_account_token_expiry_seconds"]?.first.map { $0.value > Date().timeIntervalSince1970 } == true)
        }
    }

    @Test func inCGIModeTheStatusComesFromTheStoreAlone() async throws {
        try await withStack(.init(startup: .cgi)) { stack in
            #expect(try await AccountFlowTests().connect(stack).status == 200)
            #expect(try await stack.request(url(stack, "ping")).body == "pong\n")
            #expect(try await stack.request(url(stack, "ready")).body == "ready\n")
            let report = try await status(stack)
            #expect(report["mode"] as? String == "cgi" && report["server"] == nil, "no counters in a process per request")
            let accounts = try #require(report["accounts"] as? [[String: Any]])
            #expect(accounts.count == 1 && accounts.first?["username"] as? String == "emulated.creator")
            let text = try await stack.request(url(stack, "status"))
            #expect(text.status == 200 && text.body.contains("none in CGI mode") && text.body.contains("account @emulated.creator:"))
            let metrics = try await stack.request(url(stack, "status?openmetrics"))
            #expect(try await openMetrics(metrics.body)["instagram_auth_account_state"]?.count == 1)
        }
    }

    /// The Prometheus Python client's OpenMetrics parser (prometheus_client) reads `text`: every sample by name, its labels as
    /// `name=value` sorted and joined by commas. Throws when the parser refuses the text.
    func openMetrics(_ text: String) async throws -> [String: [(labels: String, value: Double)]] {
        let script = """
            import json, sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            samples = []
            for family in text_string_to_metric_families(sys.stdin.read()):
                for s in family.samples:
                    samples.append([s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())), s.value])
            print(json.dumps(samples))
            """
        let run = try await runToEnd("/usr/bin/python3", ["-c", script], environment: [:], input: text)
        guard run.status == 0 else { throw StackError("Prometheus' parser refused the status page: \(run.err)\n\(text)") }
        let samples = try #require(try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [[Any]])
        var byName: [String: [(labels: String, value: Double)]] = [:]
        for sample in samples {
            byName[sample[0] as! String, default: []].append((sample[1] as! String, (sample[2] as! NSNumber).doubleValue))
        }
        return byName
    }

    @Test func aSlowRequestIsLoggedOnceWithWhereItsTimeWentInJSON() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_SLOW_REQUEST": "0.5", "INSTAGRAM_AUTH_LOG_FORMAT": "json"])) { stack in
            try await stack.emulatorControl("/_emulator/fault?mode=slow&delay_ms=800&path=/oauth/access_token")
            #expect(try await AccountFlowTests().connect(stack).status == 200)
            try await FeedTests().waitForFetches(stack)
            let lines = stack.responderLog.split(separator: "\n")
            #expect(lines.count >= 3)
            var objects: [[String: Any]] = []
            for line in lines {
                let object = try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                #expect(object["level"] is String && object["message"] is String && object["module"] is String && object["metadata"] is [String: Any])
                let time = try #require(object["time"] as? String)
                #expect(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil, "\(time)")
                objects.append(object)
            }
            let slow = objects.filter { $0["message"] as? String == "slow request" }
            #expect(slow.count == 1, "the callback, once")
            let metadata = try #require(slow.first?["metadata"] as? [String: String])
            #expect(metadata["route"] == "callback" && metadata["status"] == "303", "\(metadata)")
            let steps = metadata["where"] ?? ""
            #expect(steps.hasPrefix("state check 0.0") && steps.contains("store ") && steps.contains("instagram token 0.8"), "\(steps)")
            #expect(Double(metadata["seconds"] ?? "") ?? 0 >= 0.8)
            #expect((try await status(stack))["requests_slow"] as? Int == 1)

            // A command writes the same lines (the configuration file says json).
            _ = try await FeedTests().ageCopy(stack)
            let refresh = try await stack.command(["refresh", "--log-level", "info"])
            #expect(refresh.status == 0, "\(refresh.err)")
            let logged = refresh.err.split(separator: "\n")
            #expect(logged.contains { $0.contains(#""message":"feed fetched""#) }, "\(refresh.err)")
            for line in logged { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "\(line)") }
            // --log-format wins over the file.
            _ = try await FeedTests().ageCopy(stack)
            let text = try await stack.command(["refresh", "--log-level", "info", "--log-format", "text"])
            #expect(!text.err.isEmpty && !text.err.hasPrefix("{"), "\(text.err)")
        }
    }

    /// Asks the responder directly, as a web server would for a visitor at `address`.
    func ask(_ stack: Stack, _ path: String, from address: String, query: String = "") throws -> FastCGIClient.Reply {
        try FastCGIClient.request(
            socket: stack.socketPath,
            params: ["REQUEST_METHOD": "GET", "REQUEST_URI": "/instagram/\(path)", "REMOTE_ADDR": address, "QUERY_STRING": query])
    }

    @Test func onlyLoopbackAndListedAddressesReadTheStatusAndReadinessReason() async throws {
        try await withStack { (stack: Stack) async throws in
            #expect(try ask(stack, "status", from: "203.0.113.9").status == 403)
            #expect(try ask(stack, "status", from: "::1").status == 200)
            #expect(try ask(stack, "status", from: "127.0.0.2").status == 200)
            #expect(try ask(stack, "ping", from: "203.0.113.9").body == "pong\n")
            #expect(try ask(stack, "ready", from: "203.0.113.9").body == "ready\n")
        }
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_STATUS_ALLOW": "203.0.113.9, 2001:db8::5"])) { (stack: Stack) async throws in
            #expect(try ask(stack, "status", from: "203.0.113.9", query: "json").status == 200)
            #expect(try ask(stack, "status", from: "2001:db8:0::5", query: "json").status == 200)
            #expect(try ask(stack, "status", from: "203.0.113.10").status == 403)
            #expect(try ask(stack, "status", from: "not an address").status == 403)
        }
    }

    @Test func readyFlipsWhileTheSQLiteFileTakesNoWrites() async throws {
        try await withStack { stack in
            // Probes at once share one check of the store, and its answer.
            let probes = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<10 { group.addTask { (try? await stack.request(url(stack, "ready")).status) ?? -1 } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(probes == Array(repeating: 200, count: 10))
            let flag = stack.folder.appendingPathComponent("locked").path
            // As a backup or a forgotten `sqlite3` shell in a transaction would: nobody else can write.
            let holder = try Stack.launch(
                "/usr/bin/python3",
                ["-c", "import sqlite3, time; c = sqlite3.connect('\(stack.databasePath)', isolation_level=None); c.execute('BEGIN EXCLUSIVE'); open('\(flag)', 'w').close(); time.sleep(60)"],
                log: stack.folder.appendingPathComponent("holder.log"))
            try await waitFor("the lock") { FileManager.default.fileExists(atPath: flag) }
            try await Task.sleep(for: .seconds(1.1))  // ready's last answer serves probes for a second
            let started = Date()
            let locked = try await stack.request(url(stack, "ready"))
            #expect(locked.status == 503 && locked.body == "not ready: the store did not answer within 2 s\n", "\(locked.body)")
            #expect(locked.headers.first(name: "Retry-After") == "5")
            #expect(Date().timeIntervalSince(started) < 3)
            #expect(try await stack.request(url(stack, "ping")).status == 200)
            await Stack.stop(holder)
            var reply = try await stack.request(url(stack, "ready"))
            for _ in 0..<30 where reply.status != 200 {
                try await Task.sleep(for: .milliseconds(200))
                reply = try await stack.request(url(stack, "ready"))
            }
            #expect(reply.status == 200 && reply.body == "ready\n")
            #expect(stack.responderLog.contains("not ready: the store did not answer within 2 s") && stack.responderLog.contains("ready again"))

            // A file that takes no writes at all (immutable; a read-only disk answers the same): not ready either. The
            // shared-memory index stays writable, as SQLite maps it.
            let files = [stack.databasePath, stack.databasePath + "-wal"]
            try await Task.sleep(for: .seconds(1.1))  // ready's last answer serves probes for a second
            let made = try await runToEnd("/usr/bin/chattr", ["+i"] + files, environment: [:])
            // chattr needs root and a file system with the flag (ext4, xfs, btrfs); elsewhere the lock above is the case.
            guard made.status == 0 else {
                print("note: chattr +i is not available here (\(made.err.trimmingCharacters(in: .whitespacesAndNewlines))): the immutable file is not tried")
                return
            }
            let immutable = try await stack.request(url(stack, "ready"))
            _ = try await runToEnd("/usr/bin/chattr", ["-i"] + files, environment: [:])
            #expect(immutable.status == 503 && immutable.body.hasPrefix("not ready: the store refused a write: writing"), "\(immutable.body)")
            var back = try await stack.request(url(stack, "ready"))
            for _ in 0..<10 where back.status != 200 {
                try await Task.sleep(for: .milliseconds(200))
                back = try await stack.request(url(stack, "ready"))
            }
            #expect(back.status == 200)
            #expect(try await AccountFlowTests().connect(stack).status == 200, "the store works as before")
        }
    }
}

/// `accounts --check`: what a monitor runs daily, with Nagios' exit statuses.
@Suite("accounts --check", .serialized)
struct AccountsCheckTests {
    @Test func itSaysWhatNeedsAttentionAndExitsAsNagiosChecksDo() async throws {
        try await withStack { stack in
            let none = try await stack.command(["accounts", "--check"])
            #expect(none.status == 1 && none.out.hasPrefix("WARNING: no account is connected"), "\(none.out)")
            #expect(try await AccountFlowTests().connect(stack).status == 200)
            try await FeedTests().waitForFetches(stack)
            let ok = try await stack.command(["accounts", "--check"])
            #expect(ok.status == 0 && ok.out.hasPrefix("OK: 1 account(s); the next token expires in 59 days"), "\(ok.out)")

            let store = try SQLiteAccountStore(path: stack.databasePath)
            var account = try #require(try await store.account("emulated.creator"))
            account.tokenExpiresAt = Date() + 10 * 86_400
            try await store.save(account)
            let expiring = try await stack.command(["accounts", "--check"])
            #expect(expiring.status == 1, "\(expiring.out)")
            #expect(expiring.out.contains("WARNING @emulated.creator (17841405793187218): its token expires in 9 days"), "\(expiring.out)")
            #expect(try await stack.command(["accounts", "--check", "--warn-days", "7"]).status == 0)
            #expect(try await stack.command(["accounts", "--check", "--critical-days", "11", "--warn-days", "20"]).status == 2)

            try await store.recordRefreshFailure(
                userID: account.userID, token: account.accessToken, error: "Instagram did not answer", needsAuthorization: false, now: Date())
            let failed = try await stack.command(["accounts", "--check", "--warn-days", "7"])
            #expect(failed.status == 1 && failed.out.contains("its last refresh failed: Instagram did not answer"), "\(failed.out)")

            account.tokenExpiresAt = Date() + 86_400
            try await store.save(account)
            let dying = try await stack.command(["accounts", "--check"])
            #expect(dying.status == 2 && dying.out.hasPrefix("CRITICAL: 1 critical, 0 warning, of 1 account(s)"), "\(dying.out)")
            #expect(dying.out.contains("its token expires in 24 hours") || dying.out.contains("its token expires in 23 hours"), "\(dying.out)")

            try await store.recordRefreshFailure(
                userID: account.userID, token: account.accessToken, error: "Error validating access token", needsAuthorization: true, now: Date())
            let dead = try await stack.command(["accounts", "--check"])
            #expect(dead.status == 2 && dead.out.contains("CRITICAL @emulated.creator (17841405793187218): needs a new authorization"), "\(dead.out)")
            await store.close()

            let unknown = try await runToEnd(
                try Paths.product("instagram-auth"), ["accounts", "--check", "--config", stack.configPath],
                environment: ["INSTAGRAM_AUTH_DATABASE": "postgres://nobody@127.0.0.1:1/none"])
            #expect(unknown.status == 3 && unknown.out.hasPrefix("UNKNOWN: the accounts could not be read"), "\(unknown.out) \(unknown.err)")
        }
    }
}
