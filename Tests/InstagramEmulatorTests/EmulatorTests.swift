import Foundation
import Testing

@testable import InstagramEmulator

/// The emulator's rules, called directly: it must be as strict as Instagram, or tests against it prove nothing.
@Suite("The emulated Instagram")
struct EmulatorTests {
    static let redirect = "https://example.com/instagram/"
    final class Clock: @unchecked Sendable {
        var now = Date(timeIntervalSince1970: 1_800_000_000)
    }
    let clock = Clock()
    let emulator: Emulator

    init() {
        let clock = clock
        emulator = Emulator(
            app: .init(id: "77", secret: "sec", redirectURIs: [Self.redirect]), user: .init(id: "17841405793187218", username: "u"),
            codeLifetime: 60, now: { clock.now })
    }

    func body(_ reply: Emulator.Action) -> (Int, String) {
        if case .respond(let status, _, let body) = reply { return (status, body) }
        return (0, "")
    }

    func json(_ reply: Emulator.Action) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body(reply).1.utf8))) as? [String: Any] ?? [:]
    }

    func token(_ scopes: [String] = ["instagram_business_basic"]) -> String {
        let code = emulator.issueCode(redirectURI: Self.redirect, scopes: scopes)
        let reply = emulator.handle(
            method: "POST", path: "/oauth/access_token", query: [:],
            form: ["client_id": "77", "client_secret": "sec", "grant_type": "authorization_code", "redirect_uri": Self.redirect, "code": code])
        let data = json(reply)["data"] as? [[String: Any]]
        return (data?.first?["access_token"] ?? json(reply)["access_token"]) as? String ?? ""
    }

    @Test func consentPageChecksTheAppAndTheExactRedirectURI() {
        let ok = emulator.handle(
            method: "GET", path: "/oauth/authorize",
            query: ["client_id": "77", "redirect_uri": Self.redirect, "scope": "instagram_business_basic", "response_type": "code", "state": "s\"<"],
            form: [:])
        #expect(body(ok).0 == 200)
        #expect(body(ok).1.contains("value=\"s&quot;&lt;\""))
        for (key, value) in [("client_id", "78"), ("redirect_uri", Self.redirect + "x"), ("scope", "business_basic"), ("response_type", "token")] {
            var query = ["client_id": "77", "redirect_uri": Self.redirect, "scope": "instagram_business_basic", "response_type": "code"]
            query[key] = value
            #expect(body(emulator.handle(method: "GET", path: "/oauth/authorize", query: query, form: [:])).0 == 400, "\(key)")
        }
    }

    @Test func allowAndCancelRedirectAsInstagramDoes() {
        let allow = emulator.handle(
            method: "POST", path: "/oauth/authorize", query: [:],
            form: ["redirect_uri": Self.redirect, "scope": "instagram_business_basic", "state": "a b", "decision": "allow"])
        guard case .respond(302, let headers, _) = allow else {
            Issue.record("no redirect")
            return
        }
        #expect(headers["Location"]?.hasPrefix(Self.redirect + "?code=AQ") == true)
        #expect(headers["Location"]?.hasSuffix("&state=a%20b#_") == true)
        let cancel = emulator.handle(
            method: "POST", path: "/oauth/authorize", query: [:], form: ["redirect_uri": Self.redirect, "state": "s", "decision": "deny"])
        guard case .respond(302, let cancelHeaders, _) = cancel else {
            Issue.record("no redirect")
            return
        }
        #expect(cancelHeaders["Location"] == Self.redirect + "?error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request&state=s")
    }

    @Test func codesWorkOnceAndExpire() {
        let code = emulator.issueCode(redirectURI: Self.redirect, scopes: ["user_profile"])
        let form = ["app_id": "77", "app_secret": "sec", "grant_type": "authorization_code", "redirect_uri": Self.redirect, "code": code]
        let first = emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: form)
        #expect(body(first).0 == 200)
        #expect(body(first).1.contains(#""user_id":17841405793187218"#), "basic display sends the id as a number")
        let second = emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: form)
        #expect(json(second)["error_message"] as? String == "This authorization code has been used")

        let late = emulator.issueCode(redirectURI: Self.redirect, scopes: ["user_profile"])
        clock.now += 61
        var lateForm = form
        lateForm["code"] = late
        #expect(json(emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: lateForm))["error_message"] as? String
            == "This authorization code has expired")
    }

    @Test func longLivedExchangeRefreshAndMe() {
        let short = token()
        #expect(short.hasPrefix("IGAA"))
        let exchange = json(emulator.handle(
            method: "GET", path: "/access_token", query: ["grant_type": "ig_exchange_token", "client_secret": "sec", "access_token": short], form: [:]))
        let long = exchange["access_token"] as? String ?? ""
        #expect(!long.isEmpty && long != short)
        #expect(exchange["token_type"] as? String == "bearer")
        #expect((exchange["expires_in"] as? Int ?? 0) > 5_000_000)

        let wrongSecret = json(emulator.handle(
            method: "GET", path: "/access_token", query: ["grant_type": "ig_exchange_token", "client_secret": "x", "access_token": short], form: [:]))
        #expect((wrongSecret["error"] as? [String: Any])?["message"] as? String == "Error validating client secret.")

        let tooYoung = json(emulator.handle(
            method: "GET", path: "/refresh_access_token", query: ["grant_type": "ig_refresh_token", "access_token": long], form: [:]))
        #expect(tooYoung["error"] != nil, "a token younger than 24 hours cannot be refreshed")
        clock.now += 25 * 3600
        let refreshed = json(emulator.handle(
            method: "GET", path: "/refresh_access_token", query: ["grant_type": "ig_refresh_token", "access_token": long], form: [:]))
        #expect(refreshed["access_token"] as? String != nil)

        let me = json(emulator.handle(method: "GET", path: "/v25.0/me", query: ["access_token": long, "fields": "user_id,username"], form: [:]))
        #expect(me["username"] as? String == "u")
        #expect(me["user_id"] as? String == "17841405793187218")

        clock.now += 61 * 24 * 3600
        let expired = json(emulator.handle(method: "GET", path: "/me", query: ["access_token": long], form: [:]))
        #expect((expired["error"] as? [String: Any])?["code"] as? Int == 190)
    }

    @Test func tokenShapes() {
        let code = emulator.issueCode(redirectURI: Self.redirect, scopes: ["instagram_business_basic"])
        let form = ["client_id": "77", "client_secret": "sec", "grant_type": "authorization_code", "redirect_uri": Self.redirect, "code": code]
        _ = emulator.handle(method: "POST", path: "/_emulator/token-shape", query: ["shape": "flat"], form: [:])
        let flat = json(emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: form))
        #expect(flat["permissions"] as? [String] == ["instagram_business_basic"])
    }

    @Test func issuedCodesAreEachGoodOnceForTheirRedirectURI() throws {
        let issue = { (values: [String: String]) in self.emulator.handle(method: "POST", path: "/_emulator/issue-codes", query: values, form: [:]) }
        let reply = issue(["count": "3", "redirect_uri": Self.redirect, "scope": "instagram_business_basic"])
        let codes = try #require(json(reply)["codes"] as? [String])
        #expect(codes.count == 3 && Set(codes).count == 3)
        for code in codes {
            let form = ["client_id": "77", "client_secret": "sec", "grant_type": "authorization_code", "redirect_uri": Self.redirect, "code": code]
            #expect(body(emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: form)).0 == 200)
            #expect(body(emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: form)).0 == 400)
        }
        #expect(body(issue(["count": "1", "redirect_uri": Self.redirect + "x", "scope": "instagram_business_basic"])).0 == 400)
        #expect(body(issue(["count": "0", "redirect_uri": Self.redirect, "scope": "instagram_business_basic"])).0 == 400)
        #expect(body(issue(["count": "1", "redirect_uri": Self.redirect, "scope": "everything"])).0 == 400)
    }

    @Test func faultsApplyToTheAPIOnlyAndCanBeCleared() {
        emulator.setFault(.hang)
        #expect(emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: [:]) == .hang)
        #expect(body(emulator.handle(method: "GET", path: "/oauth/authorize", query: [:], form: [:])).0 == 400)
        emulator.setFault(.slow, delayMilliseconds: 250, path: "/me")
        #expect(emulator.delay(for: "/v1.0/me") == 250)
        #expect(emulator.delay(for: "/oauth/access_token") == nil)
        _ = emulator.handle(method: "POST", path: "/_emulator/fault", query: ["mode": "none"], form: [:])
        #expect(emulator.delay(for: "/me") == nil)
        #expect(body(emulator.handle(method: "POST", path: "/_emulator/fault", query: ["mode": "explode"], form: [:])).0 == 400)
    }

    @Test func redirectPointsWhereAGoodAnswerWaits() {
        let short = token()
        emulator.setFault(.redirect)
        let query = ["grant_type": "ig_exchange_token", "client_secret": "sec", "access_token": short]
        guard case .respond(302, let headers, _) = emulator.handle(method: "GET", path: "/access_token", query: query, form: [:]) else {
            Issue.record("a GET is not redirected with 302")
            return
        }
        let location = try? #require(headers["Location"])
        #expect(location?.hasPrefix("/access_token?") == true)
        #expect(location?.contains("_emulator_redirected=1") == true)
        // Where it points, the fault does not apply: following it would give a long-lived token.
        let target = URLComponents(string: location ?? "")?.queryItems ?? []
        let followed = emulator.handle(
            method: "GET", path: "/access_token",
            query: Dictionary(uniqueKeysWithValues: target.map { ($0.name, $0.value ?? "") }), form: [:])
        #expect(json(followed)["expires_in"] != nil)

        guard case .respond(307, _, _) = emulator.handle(method: "POST", path: "/oauth/access_token", query: [:], form: [:]) else {
            Issue.record("a POST is not redirected with 307, which keeps the method and the form")
            return
        }
        emulator.setFault(.trickle, delayMilliseconds: 50, path: "/me")
        #expect(emulator.handle(method: "GET", path: "/me", query: [:], form: [:]) == .trickle(intervalMilliseconds: 50))
    }
}
