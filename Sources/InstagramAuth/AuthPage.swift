import Crypto
import FastCGI
import Foundation
import InstagramAPI
import Logging

/// The answers at the redirect URI that need neither Instagram nor the account store: the authorize
/// link, the declined page, and a refused method. CGI mode answers these without opening either.
public struct StartPage: Sendable {
    public let configuration: Configuration
    let pages: Pages
    let signer: StateSigner
    private let cookie: BrowserCookie
    private let logger: Logger

    public init(configuration: Configuration, pages: Pages, logger: Logger) {
        self.configuration = configuration
        self.pages = pages
        self.signer = StateSigner(key: configuration.stateKey, lifetimeSeconds: configuration.stateLifetimeSeconds)
        self.cookie = BrowserCookie(
            path: configuration.redirectPath, secure: configuration.redirectIsHTTPS,
            maxAgeSeconds: signer.lifetimeSeconds + 300)
        self.logger = logger
    }

    /// The page, or nil for a callback with a code or a result page (which `AuthPage` answers).
    public func response(to request: Request) -> Response? {
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = failure(
                405, heading: "Method not allowed",
                message: "This page answers GET and HEAD requests only.", detail: nil, hint: nil)
            response.headers.append(("Allow", "GET, HEAD"))
            return response
        }
        let query = Query(request.query)
        if let error = query["error"], !error.isEmpty {
            return declined(query)
        }
        if query["code"].map({ !$0.isEmpty }) == true || query["result"].map({ !$0.isEmpty }) == true {
            return nil
        }
        return authorize(request)
    }

    func failure(_ status: Int, heading: String, message: String, detail: String?, hint: String?) -> Response {
        pages.render(
            "error", status: status, title: heading,
            values: [
                "heading": heading, "message": message, "detail": detail ?? "", "hint": hint ?? "",
                "startURL": configuration.credentials.redirectURI,
            ])
    }

    // MARK: - The authorize link

    private func authorize(_ request: Request) -> Response {
        let existing = CookieHeader.value(named: BrowserCookie.name, in: request.headers["cookie"])
        let browser = existing.flatMap { BrowserCookie.isWellFormed($0) ? $0 : nil } ?? BrowserCookie.newValue()
        let link = AuthorizeLink(
            profile: configuration.profile, credentials: configuration.credentials,
            endpoints: configuration.endpoints, scopes: configuration.scopes,
            state: signer.issue(browser: browser))
        return pages.render(
            "authorize", status: 200, title: "Connect Instagram",
            values: ["authorizeURL": link.url, "stateValidity": AuthPage.duration(signer.lifetimeSeconds)],
            extraHeaders: [("Set-Cookie", cookie.header(value: browser))])
    }

    // MARK: - Declined

    private func declined(_ query: Query) -> Response {
        let reason = query["error_description"] ?? query["error_reason"] ?? query["error"]
        logger.info("authorization declined", metadata: ["error": "\(AuthPage.clip(query["error"] ?? ""))"])
        return pages.render(
            "declined", status: 200, title: "Instagram access not granted",
            values: ["reason": AuthPage.clip(reason ?? ""), "startURL": configuration.credentials.redirectURI])
    }
}

/// The page at the redirect URI: the start page's answers, the callback with a code, and the result page.
public struct AuthPage: Responder {
    public let configuration: Configuration
    private let start: StartPage
    private let client: InstagramClient
    private let store: any AccountStore
    private let logger: Logger
    private var pages: Pages { start.pages }
    private var signer: StateSigner { start.signer }

    /// Codes longer than this are not Instagram's.
    static let maxCodeLength = 2048

    public init(configuration: Configuration, transport: any HTTPTransport, store: any AccountStore, pages: Pages, logger: Logger) {
        self.configuration = configuration
        self.start = StartPage(configuration: configuration, pages: pages, logger: logger)
        self.store = store
        self.client = InstagramClient(
            profile: configuration.profile, credentials: configuration.credentials,
            endpoints: configuration.endpoints, transport: transport)
        self.logger = logger
    }

    public func respond(to request: Request) async -> Response {
        if let response = start.response(to: request) { return response }
        let query = Query(request.query)
        if let rawCode = query["code"], !rawCode.isEmpty {
            return await callback(rawCode: rawCode, query: query, request: request)
        }
        return await result(ticket: query["result"] ?? "", request: request)
    }

    /// The start page's answers need neither Instagram nor the store: they are given at once.
    public func immediateResponse(to request: Request) -> Response? {
        start.response(to: request)
    }

    // MARK: - The callback

    private func callback(rawCode: String, query: Query, request: Request) async -> Response {
        let code = Self.cleanCode(rawCode)
        guard !code.isEmpty, code.utf8.count <= Self.maxCodeLength,
            code.unicodeScalars.allSatisfy(Self.isCodeCharacter)
        else {
            logger.notice("malformed code refused")
            return failure(
                400, heading: "This link is not valid",
                message: "The authorization code in the address is malformed, so it was not sent to Instagram.",
                detail: nil, hint: nil)
        }
        let browser = CookieHeader.value(named: BrowserCookie.name, in: request.headers["cookie"])
        let verdict = signer.verify(query["state"], browser: browser)
        guard verdict == .valid else {
            logger.notice("state refused", metadata: ["verdict": "\(verdict)", "code": "\(Redact.short(code))"])
            return stateFailure(verdict)
        }
        if request.method == "HEAD" {
            // A HEAD (a link checker, a prefetch) must not spend the one-time code.
            return pages.render(
                "error", status: 200, title: "Instagram authorization",
                values: [
                    "heading": "Instagram authorization", "message": "Open this page with GET to finish connecting.",
                    "startURL": configuration.credentials.redirectURI,
                ])
        }
        let tag = signer.bindingTag(browser ?? "")
        let codeHash = Self.codeHash(code)
        let deadline = Date() + TimeInterval(configuration.httpTimeoutSeconds * 3 + 5)
        // The longest an exchange can hold its claim: three calls to Instagram and the store's calls around them.
        let abandonedAfter = TimeInterval(configuration.httpTimeoutSeconds * 3 + 30)
        var claimed = false
        do {
            while true {
                switch try await store.claimCallback(codeHash: codeHash, browserTag: tag, now: Date()) {
                case .claimed(let ticket):
                    claimed = true
                    return try await exchange(code: code, codeHash: codeHash, ticket: ticket)
                case .existing(let record):
                    guard record.browserTag == tag else { return stateFailure(.otherBrowser) }
                    if record.outcome != nil {
                        logger.info("code seen before; showing its result", metadata: ["code": "\(Redact.short(code))"])
                        return seeResult(record.ticket)
                    }
                    // Claimed longer ago than any exchange takes: the request that claimed it is gone (its host
                    // stopped, or the database failed it mid-way). Take it over rather than wait for nothing.
                    if Date().timeIntervalSince(record.createdAt) > abandonedAfter {
                        logger.notice("taking over an abandoned claim on a code", metadata: ["code": "\(Redact.short(code))"])
                        try await store.releaseCallback(codeHash: codeHash, ticket: record.ticket)
                        continue
                    }
                    // The same code is being exchanged by another request (a double click, a reload):
                    // wait for its result rather than spend the code twice.
                    guard Date() < deadline else {
                        return failure(
                            503, heading: "Still connecting", message: "The authorization is still being completed. Reload this page in a moment.",
                            detail: nil, hint: nil)
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        } catch let error as StoreError {
            logger.error("account store failed", metadata: ["error": "\(error)"])
            // Leave no claim behind that would keep a retry waiting.
            if claimed { try? await store.releaseCallback(codeHash: codeHash) }
            return failure(
                503, heading: "The connection could not be saved",
                message: "This site could not record the authorization: its account database is not available right now.",
                detail: nil,
                hint: claimed
                    ? "Please start again in a few minutes."
                    : "Nothing was sent to Instagram yet. Reload this page in a minute to finish connecting, or start again.")
        } catch {
            return failure(500, heading: "Interrupted", message: "The request was interrupted.", detail: nil, hint: nil)
        }
    }

    /// Exchanges a code this request owns, stores the account, and records the outcome under `ticket`.
    private func exchange(code: String, codeHash: String, ticket: String) async throws(StoreError) -> Response {
        logger.info("exchanging code", metadata: ["code": "\(Redact.short(code))"])
        let grant: TokenGrant
        do {
            grant = try await client.exchange(code: code)
        } catch {
            logger.warning("code exchange failed", metadata: ["error": "\(error)", "code": "\(Redact.short(code))"])
            if case .rejected(let rejection) = error {
                return try await finish(
                    codeHash: codeHash, ticket: ticket,
                    outcome: CallbackOutcome(
                        kind: .refused, status: 400, heading: "Instagram did not accept the authorization",
                        message: "Instagram refused to exchange the code for an access token.",
                        detail: Self.clip(rejection.message), hint: Self.hint(for: rejection.message)))
            }
            // Instagram never answered: the code may still be good, so a retry may use it.
            try await store.releaseCallback(codeHash: codeHash)
            let fault = Self.fault(error, while: "exchanging the authorization code")
            return failure(
                fault.status, heading: fault.heading, message: fault.message, detail: fault.detail,
                hint: "Nothing was stored. Reloading this page tries the same authorization again; if that fails, start again.")
        }

        // The long-lived exchange and the profile lookup both take the new token: ask for them at once,
        // so the visitor waits for one round trip to Instagram instead of two.
        let client = client
        async let longLived = Self.attempt { () async throws(InstagramError) in try await client.exchangeForLongLived(grant.accessToken) }
        async let lookup = Self.attempt { () async throws(InstagramError) in try await client.profile(accessToken: grant.accessToken) }
        var token = grant.accessToken
        var isLongLived = false
        var expiresIn = 3600
        switch await longLived {
        case .success(let long):
            (token, isLongLived, expiresIn) = (long.accessToken, true, long.expiresInSeconds)
        case .failure(let error):
            logger.warning("long-lived exchange failed; keeping the short-lived token", metadata: ["error": "\(error)"])
        }
        let profile: InstagramProfile
        switch await lookup {
        case .success(let found):
            profile = found
        case .failure(let error):
            // The code is spent, so a retry cannot reuse it; and an account whose name is unknown can be neither
            // checked against the allowed list nor found by it later. Store nothing, and say to start again.
            logger.warning("profile lookup failed; nothing stored", metadata: ["error": "\(error)"])
            let fault = Self.fault(error, while: "looking up the account")
            return try await finish(
                codeHash: codeHash, ticket: ticket,
                outcome: CallbackOutcome(
                    kind: .refused, status: fault.status, heading: fault.heading, message: fault.message, detail: fault.detail,
                    hint: "No account was connected. Start again to authorize once more."))
        }

        let name = "@\(profile.username) (\(grant.userID))"
        guard configuration.allows(userID: grant.userID, username: profile.username) else {
            logger.notice("account not on the allowed list; not stored", metadata: ["user_id": "\(grant.userID)"])
            return try await finish(
                codeHash: codeHash, ticket: ticket,
                outcome: CallbackOutcome(
                    kind: .refused, status: 403, heading: "This account may not connect here",
                    message: "The Instagram account \(name) is not on this site's list of allowed accounts, so it was not connected."))
        }
        let now = Date()
        let account = Account(
            userID: grant.userID, username: profile.username, accountType: profile.accountType, accessToken: token,
            isLongLived: isLongLived, tokenObtainedAt: now, tokenExpiresAt: now + TimeInterval(expiresIn),
            permissions: grant.permissions, connectedAt: now)
        let response = try await finish(
            codeHash: codeHash, ticket: ticket,
            outcome: CallbackOutcome(
                kind: .connected, userID: grant.userID, status: 200, heading: "Instagram account connected", message: ""),
            saving: account)
        logger.info(
            "account connected",
            metadata: ["account": "\(name)", "long_lived": "\(isLongLived)", "token": "\(Redact.short(token))"])
        return response
    }

    private static func attempt<T>(_ body: () async throws(InstagramError) -> T) async -> Result<T, InstagramError> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    private func finish(codeHash: String, ticket: String, outcome: CallbackOutcome, saving account: Account? = nil) async throws(StoreError) -> Response {
        try await store.completeCallback(codeHash: codeHash, outcome: outcome, saving: account, now: Date())
        return seeResult(ticket)
    }

    /// POST/redirect/GET: the browser ends on a clean URL without the code, which reloads safely.
    private func seeResult(_ ticket: String) -> Response {
        var response = pages.render(
            "error", status: 303, title: "Instagram authorization",
            values: [
                "heading": "Instagram authorization", "message": "Continue to the result.",
                "startURL": resultURL(ticket),
            ])
        response.headers.append(("Location", resultURL(ticket)))
        return response
    }

    private func resultURL(_ ticket: String) -> String {
        "\(configuration.credentials.redirectURI)?result=\(FormEncoding.percentEncode(ticket))"
    }

    // MARK: - The result page

    private func result(ticket: String, request: Request) async -> Response {
        let browser = CookieHeader.value(named: BrowserCookie.name, in: request.headers["cookie"])
        let record: CallbackRecord?
        do {
            record = try await store.callback(ticket: ticket)
        } catch {
            logger.error("account store failed", metadata: ["error": "\(error)"])
            return failure(
                503, heading: "The result could not be read",
                message: "This site's account database is not available right now. Reload this page in a minute.", detail: nil, hint: nil)
        }
        guard let record, let outcome = record.outcome else {
            return failure(
                404, heading: "This result is no longer available",
                message: "Results of an authorization are kept for a day. Start again to connect an account.", detail: nil, hint: nil)
        }
        guard let browser, signer.bindingTag(browser) == record.browserTag else {
            return failure(
                403, heading: "Open this in the browser that authorized",
                message: "This result belongs to the browser that started the authorization.", detail: nil, hint: nil)
        }
        guard outcome.kind == .connected, let userID = outcome.userID else {
            return failure(outcome.status, heading: outcome.heading, message: outcome.message, detail: outcome.detail, hint: outcome.hint)
        }
        let account: Account?
        do {
            account = try await store.account(userID)
        } catch {
            account = nil
        }
        guard let account else {
            return failure(
                404, heading: "This account is no longer connected", message: "Start again to connect it.", detail: nil, hint: nil)
        }
        return pages.render(
            "success", status: 200, title: "Instagram account connected",
            values: [
                "account": account.displayName,
                "userID": account.userID,
                "username": account.username ?? "",
                "expires": Self.formatDate(account.tokenExpiresAt),
                "shortLived": !account.isLongLived,
                "needsAuthorization": account.status == .needsAuthorization,
                "permissions": account.permissions.joined(separator: ", "),
                "accessToken": configuration.showToken ? account.accessToken : "",
                "startURL": configuration.credentials.redirectURI,
            ])
    }

    public static func formatDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "d MMMM yyyy, HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    /// What the store keeps of a code: its SHA-256, never the code itself.
    static func codeHash(_ code: String) -> String {
        SHA256.hash(data: Array(code.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Instagram's codes are URL-safe tokens; anything else is not worth a call.
    static func isCodeCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".", "~": true
        default: false
        }
    }

    /// A code pasted from the address bar may carry Instagram's `#_` fragment or stray whitespace.
    static func cleanCode(_ raw: String) -> String {
        var code = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if code.hasSuffix("#_") { code.removeLast(2) }
        return code
    }

    private func stateFailure(_ verdict: StateSigner.Verdict) -> Response {
        let (status, message, hint): (Int, String, String?) =
            switch verdict {
            case .missing:
                (400, "The answer from Instagram carries no state, so it cannot be checked and was not used.", nil)
            case .forged:
                (403, "The state in the address was not issued by this site, so the code was not used.", nil)
            case .expired:
                (400, "The authorization took longer than \(Self.duration(signer.lifetimeSeconds)) and has expired.", nil)
            case .noCookie:
                (
                    403, "This browser did not start the authorization, or it does not keep cookies for this site.",
                    "Open this page and click Authorize in the same browser, with cookies allowed."
                )
            case .otherBrowser:
                (403, "The authorization was started in another browser, so it cannot be finished in this one.", nil)
            case .valid:
                (500, "", nil)
            }
        return failure(status, heading: "The authorization could not be verified", message: message, detail: nil, hint: hint)
    }

    /// The page for a call to Instagram that failed while `doing` something: 504 for a timeout, 502 otherwise.
    /// Only this site's own words, and Instagram's error message, are shown: never a URL, a token or a secret.
    static func fault(_ error: InstagramError, while doing: String)
        -> (status: Int, heading: String, message: String, detail: String?)
    {
        switch error {
        case .timedOut(let seconds):
            return (
                504, "Instagram did not answer",
                "Instagram did not answer within \(duration(seconds)) while \(doing). Please try again in a few minutes.", nil
            )
        case .unreachable:
            return (
                502, "Instagram could not be reached",
                "The connection to Instagram failed while \(doing). Please try again in a few minutes.", nil
            )
        case .tlsFailed(let reason):
            return (
                502, "Instagram could not be reached securely",
                "The secure connection to Instagram failed while \(doing): \(reason), so nothing was sent. "
                    + "If this lasts, tell the site's owner.", nil
            )
        case .unexpectedResponse(let status, let detail):
            let message =
                switch status {
                case 300..<400:
                    "Instagram answered with a redirect (HTTP \(status)) while \(doing); this site does not follow redirects from Instagram."
                case 500...: "Instagram answered with a server error (HTTP \(status)) while \(doing)."
                default: "Instagram's answer (HTTP \(status)) while \(doing) was not one this site can read."
                }
            return (
                502, "Instagram answered with an error", message + " Please try again in a few minutes.",
                (300..<400).contains(status) ? nil : clip(detail)
            )
        case .rejected(let rejection):
            return (502, "Instagram answered with an error", "Instagram refused the request while \(doing).", clip(rejection.message))
        }
    }

    /// What a site owner can do about Instagram's best-known refusals.
    static func hint(for message: String) -> String? {
        let text = message.lowercased()
        if text.contains("has been used") || text.contains("already used") {
            return "Each authorization code works only once. Start again to get a new one."
        }
        if text.contains("redirect_uri") {
            return "INSTAGRAM_REDIRECT_URI must be exactly the URL registered in the app dashboard, including any trailing slash."
        }
        if text.contains("invalid platform app") {
            return "INSTAGRAM_APP_ID looks like the Facebook app id; use the Instagram app id from the Instagram product's settings."
        }
        if text.contains("developer role") {
            return "The Instagram account is not an accepted tester of this app; accept the invitation in Instagram's settings."
        }
        if text.contains("client secret") || text.contains("app secret") {
            return "Check INSTAGRAM_APP_SECRET: it must be the Instagram app secret."
        }
        if text.contains("scope") {
            return "Check INSTAGRAM_SCOPES against the permissions the app has in its dashboard."
        }
        if text.contains("authorization code") || text.contains("expired") {
            return "Codes expire after an hour and work once. Start again to get a new one."
        }
        return nil
    }

    private func failure(_ status: Int, heading: String, message: String, detail: String?, hint: String?) -> Response {
        start.failure(status, heading: heading, message: message, detail: detail, hint: hint)
    }

    static func duration(_ seconds: Int) -> String {
        if seconds % 60 == 0 { return seconds == 60 ? "1 minute" : "\(seconds / 60) minutes" }
        return seconds == 1 ? "1 second" : "\(seconds) seconds"
    }

    /// Text from outside (Instagram, the address bar) is shown at most this long.
    static func clip(_ text: String) -> String {
        text.count > 500 ? String(text.prefix(500)) + "…" : text
    }
}

/// The first value of each name in a query string.
struct Query {
    private var values: [String: String] = [:]

    init(_ query: String) {
        for (name, value) in FormEncoding.decode(query) where values[name] == nil {
            values[name] = value
        }
    }

    subscript(name: String) -> String? { values[name] }
}
