import Foundation

/// A local Instagram: the OAuth dialog, the token endpoint, the Graph token calls and `/me`,
/// strict as the real ones, and told on demand to misbehave. Transport-free: `EmulatorServer` serves it.
public final class Emulator: @unchecked Sendable {
    public struct App: Sendable {
        public var id: String
        public var secret: String
        /// Redirect URIs registered for the app; matched exactly, as Instagram does.
        public var redirectURIs: [String]

        public init(id: String, secret: String, redirectURIs: [String]) {
            self.id = id
            self.secret = secret
            self.redirectURIs = redirectURIs
        }
    }

    public struct User: Sendable {
        public var id: String
        public var username: String

        public init(id: String, username: String) {
            self.id = id
            self.username = username
        }
    }

    /// How the next answers of the API endpoints go wrong.
    public enum Fault: String, Sendable, CaseIterable {
        /// Answers normally.
        case none
        /// Answers normally, `delay_ms` late.
        case slow
        /// HTTP 500 with an HTML body.
        case error
        /// Reads the request and never answers.
        case hang
        /// Resets the connection (TCP RST) instead of answering.
        case reset
        /// HTTP 200 with a body that is not JSON.
        case garbage
        /// Redirects (302 for GET, 307 for POST, which keeps the method and the form) to the same call marked
        /// `_emulator_redirected=1`, where no fault applies: a client that followed it would get a good answer.
        case redirect
        /// Sends the head at once, then the body one byte every `delay_ms`, never finishing.
        case trickle
    }

    public enum Action: Sendable, Equatable {
        case respond(status: Int, headers: [String: String], body: String)
        /// An answer whose body is bytes rather than text (an image).
        case binary(status: Int, headers: [String: String], body: [UInt8])
        indirect case delayed(milliseconds: Int, Action)
        case hang
        case reset
        /// A 200 head, then one byte of body every `intervalMilliseconds`, never finishing.
        case trickle(intervalMilliseconds: Int)
        /// Makes one of Meta's platform callbacks, then answers with its result (`Emulator.perform`).
        case callMeta(MetaCall)
    }

    /// The query parameter that marks a request sent to where a `redirect` fault pointed.
    public static let redirectedMarker = "_emulator_redirected"

    struct IssuedCode {
        let appID: String
        let redirectURI: String
        let scopes: [String]
        var issuedAt: Date
        var used: Bool
    }

    struct IssuedToken {
        let userID: String
        let longLived: Bool
        let issuedAt: Date
        let expiresAt: Date
    }

    public let app: App
    public let user: User
    public var codeLifetime: TimeInterval
    public let callbackURLs: CallbackURLs
    let lock = NSLock()
    var codes: [String: IssuedCode] = [:]
    var tokens: [String: IssuedToken] = [:]
    var fault: Fault = .none
    var faultDelayMilliseconds = 0
    var faultPath: String?
    var flatLoginTokens = false
    var counts: [String: Int] = [:]
    var mediaCount = Emulator.defaultMediaCount
    var mediaErrorCode: Int?
    /// The most items one `/me/media` page holds, whatever the call's `limit`.
    var mediaPageSize = 100
    var imageKind = ImageKind.jpeg
    /// How long a media URL works after the call that gave it (the CDN's `oe=`).
    var mediaURLLifetime: TimeInterval = 3600
    var mediaBaseURL = "https://scontent.cdninstagram.example"
    var lastForms: [String: [String: String]] = [:]
    let now: @Sendable () -> Date
    /// When the newest post was made: posts keep their times from one answer to the next.
    let newestPost: Date

    /// `callbackURLs` defaults to the callbacks beside the first redirect URI.
    public init(
        app: App, user: User, codeLifetime: TimeInterval = 3600, callbackURLs: CallbackURLs? = nil,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.app = app
        self.user = user
        self.codeLifetime = codeLifetime
        self.callbackURLs = callbackURLs ?? CallbackURLs(besideRedirectURI: app.redirectURIs.first ?? "")
        self.now = now
        newestPost = now()
    }

    static let apiPaths: Set<String> = ["/oauth/access_token", "/access_token", "/refresh_access_token", "/me", "/me/media", "/children"]

    public func handle(method: String, path rawPath: String, query: [String: String], form: [String: String]) -> Action {
        let path = Self.normalise(rawPath)
        lock.withLock {
            counts[path, default: 0] += 1
            if method == "POST" { lastForms[path] = form }
        }
        if Self.apiPaths.contains(path), query[Self.redirectedMarker] == nil,
            let reply = faultAction(for: path, method: method, query: query)
        {
            return reply
        }
        switch (method, path) {
        case ("GET", "/oauth/authorize"): return consentPage(query)
        case ("POST", "/oauth/authorize"): return decide(form)
        case ("POST", "/oauth/access_token"): return exchangeCode(form)
        case ("GET", "/access_token"): return exchangeForLongLived(query)
        case ("GET", "/refresh_access_token"): return refresh(query)
        case ("GET", "/me"): return me(query)
        case ("GET", "/me/media"): return media(query)
        case ("GET", "/children"): return children(of: Self.mediaID(in: rawPath), query)
        case ("POST", "/_emulator/media"): return setMedia(query.merging(form) { a, _ in a })
        case ("GET", _) where path.hasPrefix("/_cdn/"): return cdn(path, query)
        case ("POST", "/_emulator/fault"): return setFault(query.merging(form) { a, _ in a })
        case ("POST", "/_emulator/expire-codes"): return expireCodes()
        case ("POST", "/_emulator/issue-codes"): return issueCodes(query.merging(form) { a, _ in a })
        case ("POST", "/_emulator/age-tokens"): return ageTokens(query.merging(form) { a, _ in a })
        case ("POST", "/_emulator/token-shape"): return setTokenShape(query.merging(form) { a, _ in a })
        case ("GET", "/_emulator/stats"): return stats()
        case ("POST", "/_emulator/deauthorize"): return metaCall(query.merging(form) { a, _ in a }, deletion: false)
        case ("POST", "/_emulator/delete-data"): return metaCall(query.merging(form) { a, _ in a }, deletion: true)
        case ("GET", "/"): return .respond(status: 200, headers: Self.html, body: Self.page("Instagram emulator", "<p>A local stand-in for Instagram's OAuth and Graph endpoints.</p>"))
        case (_, "/oauth/access_token"), (_, "/oauth/authorize"):
            return .respond(status: 405, headers: Self.html, body: Self.page("Method not allowed", ""))
        default:
            return graphError(status: 404, message: "Unknown path components: \(path)", code: 2500, type: "IGApiException")
        }
    }

    /// `/v21.0/me` is `/me`: Graph calls may carry a version. Every `/{media-id}/children` is `/children`.
    static func normalise(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if parts.count >= 2, parts[0].hasPrefix("v"), Double(parts[0].dropFirst()) != nil { parts.removeFirst() }
        if parts.count == 2, parts[1] == "children", parts[0].allSatisfy(\.isNumber) { return "/children" }
        return parts.isEmpty ? path : "/" + parts.joined(separator: "/")
    }

    /// The media id of a `/{media-id}/children` path.
    static func mediaID(in path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.count >= 2 ? String(parts[parts.count - 2]) : ""
    }

    // MARK: - The OAuth dialog

    func consentPage(_ query: [String: String]) -> Action {
        let appID = query["client_id"] ?? query["app_id"] ?? ""
        guard appID == app.id else {
            return .respond(status: 400, headers: Self.html, body: Self.page("Invalid Request", "<p>Invalid platform app</p>"))
        }
        let redirectURI = query["redirect_uri"] ?? ""
        guard app.redirectURIs.contains(redirectURI) else {
            return .respond(status: 400, headers: Self.html, body: Self.page("Invalid Request", "<p>Invalid redirect_uri</p>"))
        }
        guard query["response_type"] == "code" else {
            return .respond(status: 400, headers: Self.html, body: Self.page("Invalid Request", "<p>Invalid response_type</p>"))
        }
        let scopes = (query["scope"] ?? "").split(separator: ",").map(String.init)
        if let bad = scopes.first(where: { !Self.knownScopes.contains($0) }) ?? (scopes.isEmpty ? "(none)" : nil) {
            return .respond(status: 400, headers: Self.html, body: Self.page("Invalid Request", "<p>Invalid scope: \(Self.escape(bad))</p>"))
        }
        let hidden = [("redirect_uri", redirectURI), ("scope", scopes.joined(separator: ",")), ("state", query["state"] ?? "")]
            .map { "<input type=\"hidden\" name=\"\($0.0)\" value=\"\(Self.escape($0.1))\">" }.joined(separator: "\n")
        let body = """
            <p><strong>Emulated app</strong> would like to access your Instagram account <strong>@\(Self.escape(user.username))</strong>.</p>
            <p>Permissions: \(Self.escape(scopes.joined(separator: ", ")))</p>
            <form method="post" action="/oauth/authorize">
            \(hidden)
            <button type="submit" name="decision" value="allow">Allow</button>
            <button type="submit" name="decision" value="deny">Cancel</button>
            </form>
            """
        return .respond(status: 200, headers: Self.html, body: Self.page("Authorize app", body))
    }

    func decide(_ form: [String: String]) -> Action {
        let redirectURI = form["redirect_uri"] ?? ""
        guard app.redirectURIs.contains(redirectURI) else {
            return .respond(status: 400, headers: Self.html, body: Self.page("Invalid Request", "<p>Invalid redirect_uri</p>"))
        }
        let state = form["state"].map { "&state=\(Self.percent($0))" } ?? ""
        guard form["decision"] == "allow" else {
            let location = "\(redirectURI)?error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request\(state)"
            return .respond(status: 302, headers: ["Location": location], body: "")
        }
        let code = issueCode(redirectURI: redirectURI, scopes: (form["scope"] ?? "").split(separator: ",").map(String.init))
        return .respond(status: 302, headers: ["Location": "\(redirectURI)?code=\(code)\(state)#_"], body: "")
    }

    /// Issues a code as if the user had clicked Allow; for tests that skip the dialog.
    public func issueCode(redirectURI: String, scopes: [String]) -> String {
        let code = "AQ" + Self.randomToken(48)
        lock.withLock {
            codes[code] = IssuedCode(appID: app.id, redirectURI: redirectURI, scopes: scopes, issuedAt: now(), used: false)
        }
        return code
    }

    // MARK: - Tokens

    func exchangeCode(_ form: [String: String]) -> Action {
        let appID = form["client_id"] ?? form["app_id"]
        let secret = form["client_secret"] ?? form["app_secret"]
        guard let appID, !appID.isEmpty else { return oauthError("Missing required parameter: client_id") }
        guard appID == app.id else { return oauthError("Invalid platform app") }
        guard let secret, secret == app.secret else { return oauthError("Error validating client secret.") }
        guard form["grant_type"] == "authorization_code" else { return oauthError("Unsupported grant type: \(form["grant_type"] ?? "")") }
        guard let redirectURI = form["redirect_uri"], !redirectURI.isEmpty else {
            return oauthError("Missing required parameter: redirect_uri")
        }
        guard let code = form["code"], !code.isEmpty else { return oauthError("Missing required parameter: code") }
        let outcome: Result<IssuedCode, Rejection> = lock.withLock {
            guard var issued = codes[code] else { return .failure(.init("Invalid authorization code")) }
            guard !issued.used else { return .failure(.init("This authorization code has been used")) }
            guard now().timeIntervalSince(issued.issuedAt) <= codeLifetime else {
                return .failure(.init("This authorization code has expired"))
            }
            guard issued.redirectURI == redirectURI else {
                return .failure(.init(
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"))
            }
            issued.used = true
            codes[code] = issued
            return .success(issued)
        }
        let issued: IssuedCode
        switch outcome {
        case .failure(let rejection): return oauthError(rejection.message)
        case .success(let value): issued = value
        }
        let token = storeToken(longLived: false, lifetime: 3600)
        let isLogin = issued.scopes.contains { $0.hasPrefix("instagram_business_") }
        let permissions = issued.scopes.joined(separator: ",")
        if !isLogin {
            return json(200, #"{"access_token":"\#(token)","user_id":\#(user.id)}"#)
        }
        if lock.withLock({ flatLoginTokens }) {
            let list = issued.scopes.map { "\"\($0)\"" }.joined(separator: ",")
            return json(200, #"{"access_token":"\#(token)","user_id":\#(user.id),"permissions":[\#(list)]}"#)
        }
        return json(200, #"{"data":[{"access_token":"\#(token)","user_id":"\#(user.id)","permissions":"\#(permissions)"}]}"#)
    }

    func exchangeForLongLived(_ query: [String: String]) -> Action {
        guard query["grant_type"] == "ig_exchange_token" else {
            return graphError(status: 400, message: "Unsupported grant_type", code: 100, type: "OAuthException")
        }
        guard query["client_secret"] == app.secret else {
            return graphError(status: 400, message: "Error validating client secret.", code: 1, type: "OAuthException")
        }
        guard case .success(let old) = validToken(query["access_token"]) else { return invalidToken() }
        guard !old.longLived else {
            return graphError(status: 400, message: "Invalid OAuth access token - Cannot parse access token", code: 190, type: "OAuthException")
        }
        return longLivedGrant()
    }

    func refresh(_ query: [String: String]) -> Action {
        guard query["grant_type"] == "ig_refresh_token" else {
            return graphError(status: 400, message: "Unsupported grant_type", code: 100, type: "OAuthException")
        }
        guard case .success(let old) = validToken(query["access_token"]), old.longLived else { return invalidToken() }
        guard now().timeIntervalSince(old.issuedAt) >= 24 * 3600 else {
            return graphError(status: 400, message: "The access token is not old enough to be refreshed", code: 10, type: "OAuthException")
        }
        return longLivedGrant()
    }

    func longLivedGrant() -> Action {
        let lifetime = 5_184_000
        let token = storeToken(longLived: true, lifetime: TimeInterval(lifetime))
        return json(200, #"{"access_token":"\#(token)","token_type":"bearer","expires_in":\#(lifetime - 56)}"#)
    }

    func me(_ query: [String: String]) -> Action {
        guard case .success = validToken(query["access_token"]) else { return invalidToken() }
        return json(
            200,
            #"{"id":"\#(user.id)","user_id":"\#(user.id)","username":"\#(user.username)","account_type":"BUSINESS","media_count":42}"#)
    }

    func storeToken(longLived: Bool, lifetime: TimeInterval) -> String {
        let token = "IGAA" + Self.randomToken(120)
        let issued = now()
        lock.withLock {
            tokens[token] = IssuedToken(userID: user.id, longLived: longLived, issuedAt: issued, expiresAt: issued + lifetime)
        }
        return token
    }

    func validToken(_ token: String?) -> Result<IssuedToken, Rejection> {
        lock.withLock {
            guard let token, let issued = tokens[token] else { return .failure(.init("Invalid OAuth access token")) }
            guard issued.expiresAt > now() else { return .failure(.init("Error validating access token: Session has expired")) }
            return .success(issued)
        }
    }

    func invalidToken() -> Action {
        graphError(status: 400, message: "Invalid OAuth access token - Cannot parse access token", code: 190, type: "OAuthException")
    }

    // MARK: - Answers

    struct Rejection: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    func oauthError(_ message: String) -> Action {
        json(400, #"{"error_type":"OAuthException","code":400,"error_message":"\#(Self.jsonEscape(message))"}"#)
    }

    func graphError(status: Int, message: String, code: Int, type: String) -> Action {
        json(
            status,
            #"{"error":{"message":"\#(Self.jsonEscape(message))","type":"\#(type)","code":\#(code),"fbtrace_id":"A\#(Self.randomToken(20))"}}"#)
    }

    func json(_ status: Int, _ body: String) -> Action {
        .respond(status: status, headers: ["Content-Type": "application/json; charset=UTF-8"], body: body)
    }

    static let knownScopes: Set<String> = [
        "user_profile", "user_media", "instagram_business_basic", "instagram_business_manage_messages",
        "instagram_business_manage_comments", "instagram_business_content_publish", "instagram_business_manage_insights",
    ]

    static let html = ["Content-Type": "text/html; charset=utf-8"]

    static func page(_ title: String, _ body: String) -> String {
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(escape(title))</title></head><body><h1>\(escape(title))</h1>\n\(body)\n</body></html>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    static func jsonEscape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func percent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    static func randomToken(_ length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
