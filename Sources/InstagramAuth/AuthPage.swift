import FastCGI
import Foundation
import InstagramAPI
import Logging

/// The page at the redirect URI: the authorize link, the callback with a code, and the declined page.
public struct AuthPage: Responder {
    public let configuration: Configuration
    private let client: InstagramClient
    private let pages: Pages
    private let signer: StateSigner
    private let cookie: BrowserCookie
    private let logger: Logger

    /// Codes longer than this are not Instagram's.
    static let maxCodeLength = 2048

    public init(configuration: Configuration, transport: any HTTPTransport, pages: Pages, logger: Logger) {
        self.configuration = configuration
        self.client = InstagramClient(
            profile: configuration.profile, credentials: configuration.credentials,
            endpoints: configuration.endpoints, transport: transport)
        self.pages = pages
        self.signer = StateSigner(key: configuration.stateKey, lifetimeSeconds: configuration.stateLifetimeSeconds)
        self.cookie = BrowserCookie(
            path: configuration.redirectPath, secure: configuration.redirectIsHTTPS,
            maxAgeSeconds: signer.lifetimeSeconds + 300)
        self.logger = logger
    }

    public func respond(to request: Request) async -> Response {
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
        if let rawCode = query["code"], !rawCode.isEmpty {
            return await callback(rawCode: rawCode, query: query, request: request)
        }
        return authorize(request)
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
            values: ["authorizeURL": link.url, "stateValidity": Self.duration(signer.lifetimeSeconds)],
            extraHeaders: [("Set-Cookie", cookie.header(value: browser))])
    }

    // MARK: - Declined

    private func declined(_ query: Query) -> Response {
        let reason = query["error_description"] ?? query["error_reason"] ?? query["error"]
        logger.info("authorization declined", metadata: ["error": "\(Self.clip(query["error"] ?? ""))"])
        return pages.render(
            "declined", status: 200, title: "Instagram access not granted",
            values: ["reason": Self.clip(reason ?? ""), "startURL": configuration.credentials.redirectURI])
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
        logger.info("exchanging code", metadata: ["code": "\(Redact.short(code))"])
        do {
            let grant = try await client.exchange(code: code)
            logger.info(
                "account connected",
                metadata: ["user_id": "\(grant.userID)", "token": "\(Redact.short(grant.accessToken))"])
            return pages.render(
                "success", status: 200, title: "Instagram account connected",
                values: [
                    "userID": grant.userID,
                    "permissions": grant.permissions.joined(separator: ", "),
                    "accessToken": configuration.showToken ? grant.accessToken : "",
                    "startURL": configuration.credentials.redirectURI,
                ])
        } catch {
            logger.warning("code exchange failed", metadata: ["error": "\(error)", "code": "\(Redact.short(code))"])
            return exchangeFailure(error)
        }
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

    private func exchangeFailure(_ error: InstagramError) -> Response {
        switch error {
        case .rejected(let rejection):
            return failure(
                400, heading: "Instagram did not accept the authorization",
                message: "Instagram refused to exchange the code for an access token.",
                detail: Self.clip(rejection.message), hint: Self.hint(for: rejection.message))
        case .timedOut(let seconds):
            return failure(
                504, heading: "Instagram did not answer",
                message: "Instagram did not answer within \(Self.duration(seconds)). Please try again in a few minutes.",
                detail: nil, hint: nil)
        case .unreachable:
            return failure(
                502, heading: "Instagram could not be reached",
                message: "The connection to Instagram failed. Please try again in a few minutes.", detail: nil, hint: nil)
        case .unexpectedResponse(let status, _):
            return failure(
                502, heading: "Instagram answered with an error",
                message: "Instagram's answer (HTTP \(status)) was not an access token. Please try again in a few minutes.",
                detail: nil, hint: nil)
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
        pages.render(
            "error", status: status, title: heading,
            values: [
                "heading": heading, "message": message, "detail": detail ?? "", "hint": hint ?? "",
                "startURL": configuration.credentials.redirectURI,
            ])
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
