import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The whole product through real nginx: a visitor's browser, the responder and the emulated Instagram.
@Suite("Through nginx", .serialized)
struct FlowTests {
    @Test func instagramLoginConnectsAnAccount() async throws {
        try await withStack { stack in
            let browser = Browser()
            let start = try await stack.page(browser: browser)
            #expect(start.headers.first(name: "Cache-Control") == "no-store")
            #expect(start.headers.first(name: "Referrer-Policy") == "no-referrer")
            #expect(start.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(start.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(start.headers.first(name: "Set-Cookie")?.contains("HttpOnly") == true)
            let link = try Stack.authorizeLink(in: start.body)
            #expect(link.contains("client_id=\(Stack.appID)") && link.contains("scope=instagram_business_basic"))

            let (callback, _) = try await stack.authorize(browser: browser)
            let done = try await stack.request(callback, browser: browser)
            #expect(done.status == 200)
            #expect(done.body.contains("Instagram account connected"))
            #expect(done.body.contains("17841405793187218"))
            #expect(!done.body.contains(Stack.appSecret))
            #expect(try await stack.tokenRequests() == 1)
        }
    }

    @Test func basicDisplaySendsTheLegacyParameters() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_API": "basic-display", "INSTAGRAM_AUTH_SHOW_TOKEN": "1"])) { stack in
            let browser = Browser()
            let start = try await stack.page(browser: browser)
            let link = try Stack.authorizeLink(in: start.body)
            #expect(link.contains("app_id=\(Stack.appID)") && link.contains("scope=user_profile%2Cuser_media"))
            let (callback, _) = try await stack.authorize(browser: browser)
            let done = try await stack.request(callback, browser: browser)
            #expect(done.status == 200)
            #expect(done.body.contains("17841405793187218"))
            #expect(done.body.contains("class=\"token\">IGAA"), "SHOW_TOKEN=1 shows the token as the legacy script did")
        }
    }

    @Test func declinedAuthorization() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser, allow: false)
            #expect(callback.contains("error=access_denied"))
            let page = try await stack.request(callback, browser: browser)
            #expect(page.status == 200)
            #expect(page.body.contains("The user denied your request"))
            #expect(page.body.contains("Try again"))
            #expect(try await stack.tokenRequests() == 0)
        }
    }

    @Test func invalidReusedExpiredAndMismatchedCodes() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (_, state) = try await stack.authorize(browser: browser)

            let invalid = try await stack.page("code=AQnotacode&state=\(state)", browser: browser)
            #expect(invalid.status == 400)
            #expect(invalid.body.contains("Invalid authorization code"))

            // A state is used once: another code with it is refused without a token request.
            let requests = try await stack.tokenRequests()
            let (second, _) = try await stack.authorize(browser: browser)
            let reused = try await stack.page("code=\(Stack.query(of: second)["code"]!)&state=\(state)", browser: browser)
            #expect(reused.status == 400 && reused.body.contains("This authorization was already used"))
            #expect(try await stack.tokenRequests() == requests)
            let callback = second

            // A code spent elsewhere (another site, a script) before the visitor arrives: Instagram's refusal, explained.
            let code = Stack.query(of: callback)["code"]!
            _ = try await stack.request(
                "http://127.0.0.1:\(stack.emulatorPort)/oauth/access_token", method: .POST,
                form: [
                    ("client_id", Stack.appID), ("client_secret", Stack.appSecret), ("grant_type", "authorization_code"),
                    ("redirect_uri", stack.redirectURI), ("code", code),
                ])
            let used = try await stack.request(callback, browser: browser)
            #expect(used.status == 400)
            #expect(used.body.contains("This authorization code has been used"))
            #expect(used.body.contains("works only once"))
            #expect(used.body.contains("Start again"))

            let (fresh, _) = try await stack.authorize(browser: browser)
            try await stack.emulatorControl("/_emulator/expire-codes")
            let expired = try await stack.request(fresh, browser: browser)
            #expect(expired.status == 400)
            #expect(expired.body.contains("expired"))

            // A code Instagram issued for another registered URL: the token request names ours.
            let (elsewhere, elsewhereState) = try await stack.authorize(browser: browser, redirectURI: stack.otherRedirectURI)
            let otherCode = Stack.query(of: elsewhere)["code"]!
            let mismatch = try await stack.page("code=\(otherCode)&state=\(elsewhereState)", browser: browser)
            #expect(mismatch.status == 400)
            #expect(mismatch.body.contains("redirect_uri is identical"))
            #expect(mismatch.body.contains("INSTAGRAM_REDIRECT_URI"))
        }
    }

    @Test func badStateNeverReachesInstagram() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (callback, state) = try await stack.authorize(browser: browser)
            let code = Stack.query(of: callback)["code"]!

            let missing = try await stack.page("code=\(code)", browser: browser)
            #expect(missing.status == 400)
            let forged = try await stack.page("code=\(code)&state=v1.1.2.3.4", browser: browser)
            #expect(forged.status == 403)
            let tampered = try await stack.page("code=\(code)&state=\(state.dropLast(2))AA", browser: browser)
            #expect(tampered.status == 403)
            let anotherBrowser = Browser()
            _ = try await stack.page(browser: anotherBrowser)
            let stolen = try await stack.request(callback, browser: anotherBrowser)
            #expect(stolen.status == 403)
            #expect(stolen.body.contains("another browser"))
            let noCookies = try await stack.request(callback)
            #expect(noCookies.status == 403)
            for page in [missing, forged, tampered, stolen, noCookies] {
                #expect(page.body.contains("Start again"))
            }
            #expect(try await stack.tokenRequests() == 0)
            // The genuine browser can still finish.
            #expect(try await stack.request(callback, browser: browser).status == 200)
        }
    }

    @Test func expiredStateIsRefused() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_STATE_LIFETIME": "1"])) { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            try await Task.sleep(for: .milliseconds(2200))
            let late = try await stack.request(callback, browser: browser)
            #expect(late.status == 400)
            #expect(late.body.contains("expired"))
            #expect(try await stack.tokenRequests() == 0)
        }
    }

    @Test func hostileInputComesBackEscaped() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (_, state) = try await stack.authorize(browser: browser)
            let payload = "%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%27"
            let declined = try await stack.page(
                "error=access_denied&error_description=\(payload)&error_reason=\(payload)&state=\(state)", browser: browser)
            #expect(declined.body.contains("&lt;script&gt;alert(1)"))
            // Without a state of this site's, a link cannot put words of its choosing on the page.
            let forged = try await stack.page("error=access_denied&error_description=Call%20us%20at%20555&state=\(payload)", browser: browser)
            #expect(forged.status == 200 && !forged.body.contains("Call us"))
            let badCode = try await stack.page("code=\(payload)&state=\(state)", browser: browser)
            #expect(badCode.status == 400)
            let badState = try await stack.page("code=AQabc&state=\(payload)", browser: browser)
            #expect(badState.status == 403)
            for page in [declined, badCode, badState] {
                #expect(!page.body.contains("<script>alert"))
                #expect(!page.body.contains("\"'"))
            }
            #expect(try await stack.tokenRequests() == 0)
        }
    }

    @Test func instagramFailuresGiveClearPagesAndTheServerKeepsServing() async throws {
        // One browser tries a dozen codes in a minute: more than a person would, so no limit here.
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_CALLBACK_LIMIT": "0"])) { stack in
            let browser = Browser()
            let cases: [(mode: String, status: Int, text: String)] = [
                ("error", 502, "Instagram answered with an error"),
                ("garbage", 502, "Instagram answered with an error"),
                ("reset", 502, "could not be reached"),
                ("hang", 504, "did not answer within 2 seconds"),
                ("trickle&delay_ms=200", 504, "did not answer within 2 seconds"),
                ("redirect", 502, "this site does not follow redirects from Instagram"),
            ]
            for item in cases {
                let (callback, _) = try await stack.authorize(browser: browser)
                try await stack.emulatorControl("/_emulator/fault?mode=\(item.mode)&path=/oauth/access_token")
                let started = Date()
                let page = try await stack.request(callback, browser: browser)
                #expect(page.status == item.status, "\(item.mode)")
                #expect(page.body.contains(item.text), "\(item.mode): \(page.body)")
                #expect(Date().timeIntervalSince(started) < 10, "\(item.mode) took too long")
                try await stack.emulatorControl("/_emulator/fault?mode=none")
                #expect(try await stack.page(browser: browser).status == 200)
            }
        }
    }

    @Test func instagramRefusingConnections() async throws {
        try await withStack(.init(apiUnreachable: true)) { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            let page = try await stack.request(callback, browser: browser)
            #expect(page.status == 502)
            #expect(page.body.contains("could not be reached"))
            #expect(try await stack.page(browser: browser).status == 200)
        }
    }

    @Test func methods() async throws {
        try await withStack { stack in
            let post = try await stack.page(method: .POST)
            #expect(post.status == 405)
            #expect(post.headers.first(name: "Allow") == "GET, HEAD")
            let put = try await stack.page(method: .PUT)
            #expect(put.status == 405)
            let head = try await stack.page(method: .HEAD)
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.headers.first(name: "Content-Type") == "text/html; charset=utf-8")
            try await expectPathsBelowTheFolderReachTheResponder(stack)
        }
    }

    /// Every path below the page's folder reaches the responder (so an endpoint added beside the page needs no
    /// change to the web server's configuration): an unknown one gets the responder's 404 page, not the server's.
    func expectPathsBelowTheFolderReachTheResponder(_ stack: Stack, folder: String = "/instagram/") async throws {
        for name in ["no-such-page", "defines.php"] {
            let unknown = try await stack.request("http://127.0.0.1:\(stack.port)\(folder)\(name)")
            #expect(unknown.status == 404, "\(name): \(unknown.status)")
            #expect(unknown.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true, "\(name)")
            #expect(unknown.body.contains("This address is not one of this page&#39;s."), "\(name): \(unknown.body.prefix(300))")
        }
    }

    @Test func aSlowInstagramDoesNotKeepOtherVisitorsWaiting() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_HTTP_TIMEOUT": "10"])) { stack in
            var callbacks: [(String, Browser)] = []
            for _ in 0..<8 {  // more than the responder's 4 worker threads
                let browser = Browser()
                callbacks.append((try await stack.authorize(browser: browser).callback, browser))
            }
            try await stack.emulatorControl("/_emulator/fault?mode=slow&delay_ms=3000&path=/oauth/access_token")
            try await withThrowingTaskGroup(of: (Bool, Stack.Reply).self) { group in
                for (callback, browser) in callbacks {
                    group.addTask { (true, try await stack.request(callback, browser: browser)) }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(300))
                    var last: Stack.Reply?
                    for _ in 0..<10 { last = try await stack.page(browser: Browser()) }
                    return (false, last!)
                }
                var slowFinished: [Date] = []
                var pagesFinished: Date?
                for try await (isCallback, reply) in group {
                    #expect(reply.status == 200)
                    if isCallback { slowFinished.append(reply.finished) } else { pagesFinished = reply.finished }
                }
                #expect(slowFinished.count == 8)
                #expect(pagesFinished! < slowFinished.min()!, "other visitors waited for the slow callbacks")
            }
        }
    }

    @Test func sigtermLetsCallbacksInFlightFinish() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            try await stack.emulatorControl("/_emulator/fault?mode=slow&delay_ms=1500&path=/oauth/access_token")
            async let page = stack.request(callback, browser: browser, follow: false)
            try await Task.sleep(for: .milliseconds(400))
            let status = await stack.terminateResponder()
            let finished = try await page
            #expect(finished.status == 303, "the callback in flight was answered")
            #expect(status == 0)
            #expect(!FileManager.default.fileExists(atPath: stack.socketPath))
            let listed = try await stack.command(["accounts"])
            #expect(listed.out.contains("17841405793187218"), "and its account was stored")
        }
    }

    @Test(arguments: [Stack.Startup.inheritedOnStdin, .systemdActivation, .cgi])
    func startedEveryWayItServesTheWholeFlow(startup: Stack.Startup) async throws {
        try await withStack(.init(startup: startup)) { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            let done = try await stack.request(callback, browser: browser)
            #expect(done.status == 200)
            #expect(done.body.contains("@emulated.creator (17841405793187218)"))
            let reload = try await stack.request(callback, browser: browser)
            #expect(reload.body == done.body)
            #expect(try await stack.tokenRequests() == 1)
            switch startup {
            case .inheritedOnStdin: #expect(stack.responderLog.contains("listen=fd 0"))
            case .systemdActivation: #expect(stack.responderLog.contains("listen=fd 3"))
            case .cgi, .socket: break
            }
            #expect(try await stack.page(method: .POST).status == 405)
            try await FeedTests().expectTheFeedServed(stack)
        }
    }

    @Test(arguments: Paths.otherServers)
    func otherWebServersServeTheWholeFlow(server: String) async throws {
        try await withStack(.init(server: server)) { stack in
            let browser = Browser()
            let start = try await stack.page(browser: browser)
            #expect(start.status == 200)
            #expect(start.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            let (callback, state) = try await stack.authorize(browser: browser)
            let done = try await stack.request(callback, browser: browser)
            #expect(done.status == 200, "\(server): \(done.body)")
            #expect(done.body.contains("@emulated.creator (17841405793187218)"))
            let declined = try await stack.page("error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state=\(state)", browser: browser)
            #expect(declined.body.contains("&lt;b&gt;no&lt;"))
            let post = try await stack.page(method: .POST)
            #expect(post.status == 405)
            #expect(post.headers.first(name: "Allow") == "GET, HEAD")
            try await expectPathsBelowTheFolderReachTheResponder(stack)
            try await FeedTests().expectTheFeedServed(stack)
        }
    }

    @Test func keptConnectionsExampleServesTheFlowOverFewConnections() async throws {
        try await withStack(.init(example: "instagram-auth-keepalive.conf")) { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            let done = try await stack.request(callback, browser: browser)
            #expect(done.status == 200)
            #expect(done.body.contains("@emulated.creator (17841405793187218)"))
            for _ in 0..<40 {
                #expect(try await stack.page(browser: browser).status == 200)
            }
            #expect(await stack.terminateResponder() == 0)
            // Every request went over a connection nginx kept: far fewer connections than requests.
            let stopped = try #require(stack.responderLog.split(separator: "\n").last { $0.contains("stopped") })
            let count = { (name: String) in
                Int(stopped.firstRange(of: try! Regex("\(name)=([0-9]+)")).map { stopped[$0].split(separator: "=").last! } ?? "") ?? -1
            }
            #expect(count("answered") >= 43)
            #expect(count("connections") >= 1 && count("connections") <= 3, "\(stopped)")
            #expect(count("reused") >= 40)
        }
    }

    @Test func sharedHostingLayoutKeepsTheLegacyURL() async throws {
        try await withStack(.init(example: "shared-hosting-php.conf", path: "/instagram/index.php")) { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            #expect(callback.contains("/instagram/index.php?code="))
            let done = try await stack.request(callback, browser: browser)
            #expect(done.status == 200)
            #expect(done.body.contains("17841405793187218"))
            // The old script's folder reaches the responder, never PHP: defines.php is not run, nor shown.
            try await expectPathsBelowTheFolderReachTheResponder(stack)
            #expect(try await stack.page(browser: browser).status == 200, "the page at its legacy name")
        }
    }
}
