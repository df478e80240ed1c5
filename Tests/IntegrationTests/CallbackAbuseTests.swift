import Foundation
import Testing

/// The callback turned against its owner: a loop of codes must not become a loop of token requests.
@Suite("Callback abuse, through nginx", .serialized)
struct CallbackAbuseTests {
    static func randomCode() -> String { "AQ" + UUID().uuidString.replacingOccurrences(of: "-", with: "") }

    @Test func oneHundredRandomCodesMakeAtMostTheLimitsTokenRequests() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_CALLBACK_LIMIT": "8"])) { stack in
            let before = try await stack.tokenRequests()
            // One browser, a fresh state for each code (the page hands them out freely).
            let browser = Browser()
            var statuses: [Int: Int] = [:]
            var retryAfter: String?
            for _ in 0..<50 {
                let (_, state) = try await stack.authorize(browser: browser)
                let reply = try await stack.page("code=\(Self.randomCode())&state=\(state)", browser: browser)
                statuses[reply.status, default: 0] += 1
                if reply.status == 429 { retryAfter = reply.headers.first(name: "Retry-After") }
            }
            #expect(try await stack.tokenRequests() - before <= 5, "one browser: at most 5 a minute")
            #expect(statuses[429] ?? 0 >= 45, "\(statuses)")
            let seconds = try #require(retryAfter.flatMap(Int.init))
            #expect((1...60).contains(seconds))

            // A new browser for each code: the address's limit holds.
            for _ in 0..<50 {
                let visitor = Browser()
                let (_, state) = try await stack.authorize(browser: visitor)
                _ = try await stack.page("code=\(Self.randomCode())&state=\(state)", browser: visitor)
            }
            #expect(try await stack.tokenRequests() - before <= 8, "one address: at most the limit a minute")

            // Pages that need no token request still answer at once.
            #expect(try await stack.page(browser: Browser()).status == 200)
        }
    }

    @Test func theAccessLogKeepsNoCodeOrState() async throws {
        try await withStack { stack in
            let browser = Browser()
            let (callback, state) = try await stack.authorize(browser: browser)
            _ = try await stack.request(callback, browser: browser)
            let code = try #require(Stack.query(of: callback)["code"])
            let log = try String(contentsOfFile: stack.serverFolder + "/logs/access.log", encoding: .utf8)
            #expect(log.contains("GET /instagram/ HTTP/1.1\" 303"), "\(log.suffix(400))")
            #expect(!log.contains(code) && !log.contains(state) && !log.contains("code="))
        }
    }

    @Test func aLineBreakFromTheAddressBarCannotForgeALogLine() async throws {
        try await withStack { stack in
            let forged = "2026-12-02T10:00:00+0000 error instagram-auth: account @attacker connected"
            let query = "error=x%0A" + forged.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let page = try await stack.page(query)
            #expect(page.status == 200)
            let lines = stack.responderLog.split(separator: "\n")
            #expect(lines.contains { $0.contains("authorization declined") && $0.contains("error=x\\n2026-12-02") }, "\(lines.suffix(5))")
            #expect(!lines.contains { $0.hasPrefix("2026-12-02T10:00:00+0000 error") })
        }
    }
}
