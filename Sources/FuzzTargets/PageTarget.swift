import Dispatch
import FastCGI
import Foundation
import InstagramAPI
import InstagramAuth
import LogHandlers
import Logging
import SQLiteStore

/// The whole page: FastCGI params to `Request` to the `Router`, with a real SQLite account store, and
/// Instagram's answers taken from the input instead of the network.
///
/// Input: `NAME=value` params, one per line; after the first empty line, Instagram's answers to the
/// page's calls in order, separated by `--` lines, each a status line (a number, `timeout` or
/// `unreachable`) and a body. In param values `{state}` becomes a state the page signed just now for
/// the browser `{browser}`, so inputs reach the code exchange.
enum PageTarget {
    static let redirectURI = "https://example.com/instagram/"
    static let appSecret = "page-app-secret-3f9c1e7b52"

    static let harness: Harness = {
        do {
            return try Harness()
        } catch {
            fatalError("the page target cannot start: \(error)")
        }
    }()

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        try harness.run(input)
    }
}

final class Harness: Sendable {
    let configuration: Configuration
    let store: SQLiteAccountStore
    let pages: Pages
    let signer: StateSigner
    /// The page's binding cookie, and a browser id it issued: what `{browser}` becomes.
    let cookie: BrowserCookie
    let browser: String
    let log = LogRecorder()

    init() throws {
        let database = (Scratch.folder as NSString).appendingPathComponent("accounts.sqlite3")
        configuration = try Configuration.load(environment: [
            "INSTAGRAM_APP_ID": "4242", "INSTAGRAM_APP_SECRET": PageTarget.appSecret,
            "INSTAGRAM_REDIRECT_URI": PageTarget.redirectURI, "INSTAGRAM_HTTP_TIMEOUT": "1",
            "INSTAGRAM_AUTH_DATABASE": database, "INSTAGRAM_AUTH_ALLOWED_USERS": "tester, 17841405793187218",
            // Every input comes from one address: a limit would answer most of them 429 before the exchange.
            "INSTAGRAM_AUTH_CALLBACK_LIMIT": "0",
        ])
        store = try SQLiteAccountStore(path: database)
        pages = try Pages()
        signer = StateSigner(key: configuration.stateKey, lifetimeSeconds: configuration.stateLifetimeSeconds)
        cookie = BrowserCookie(path: configuration.redirectPath, secure: true, maxAgeSeconds: 1, key: configuration.stateKey)
        browser = cookie.newValue()
    }

    func run(_ input: [UInt8]) throws(InvariantViolation) {
        let (head, tail) = input.splitOnce(Array("\n\n".utf8))
        let state = signer.issue(browser: browser)
        let strings = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            Array($0).text.replacingOccurrences(of: "{state}", with: state).replacingOccurrences(of: "{browser}", with: browser)
        }
        let params = FastCGIServer.params(strings)
        let request = Request(params: params)
        let replies = (tail ?? []).text.components(separatedBy: "\n--\n").map(InstagramAnswer.init)

        let transport = ScriptedTransport(replies: tail == nil ? [] : replies)
        log.clear()
        let page = Router(
            configuration: configuration, transport: transport, store: store, pages: pages,
            logger: log.logger(label: "page"))
        // A connection starts the account's feed fetch in the background: its calls are the feed's, not the callback's.
        let response = wait {
            let answer = await page.respond(to: request)
            await page.finishBackgroundWork()
            return answer
        }
        let calls = transport.calls.filter { !Self.isFeedCall($0) }
        let feedCalls = transport.calls.filter(Self.isFeedCall)
        try require(
            feedCalls.isEmpty || response.status == 303, "\(feedCalls.count) feed calls for a request that connected nothing")

        try checkResponse(response, to: request)

        // Nothing goes to Instagram unless a GET carries a well-formed code and a state this site
        // issued to this browser, and no error.
        let query = firstValues(FormEncoding.decode(request.query))
        let sentBrowser = cookie.value(in: request.headers["cookie"])
        let code = query["code"].map(cleanCode)
        let mayCall =
            request.method == "GET" && (query["error"] ?? "").isEmpty && code.map(isWellFormedCode) == true
            && signer.verify(query["state"], browser: sentBrowser) == .valid
        if !mayCall {
            try require(calls.isEmpty, "\(calls.count) calls to Instagram for \(request.method) ?\(request.query.shown) without a valid state")
        }
        try checkCalls(calls, code: code)

        // Secrets, codes and tokens never show in a page or a log line.
        let texts = controlledTexts(params: params, query: query, replies: replies)
        var secrets = [PageTarget.appSecret]
        secrets += ([code].compactMap { $0 } + replies.flatMap(\.tokens)).filter { looksLikeASecret($0) && isUnique($0, in: texts) }
        let shown = [response.text] + response.headers.map(\.value) + log.lines
        for secret in secrets {
            for text in shown where text.contains(secret) {
                throw InvariantViolation("\(secret.shown) shows in \(text.shown)")
            }
        }

        // A callback's answer is a 303 to a result page that a reload leads back to, without spending the code again.
        if response.status == 303 {
            let location = response.value(of: "Location") ?? ""
            let again = wait { await page.respond(to: request) }
            try require(
                again.status == 303 && again.value(of: "Location") == location && transport.calls.count == calls.count + feedCalls.count,
                "a reload of ?\(request.query.shown) answered \(again.status) \(again.value(of: "Location")?.shown ?? "") after \(transport.calls.count - calls.count - feedCalls.count) more calls")
            let ticket = String(location.dropFirst(PageTarget.redirectURI.count + "?result=".count))
            let result = Request(method: "GET", query: "result=\(ticket)", headers: request.headers)
            let shownResult = wait { await page.respond(to: result) }
            try require(
                // 502/504: Instagram failed after the code was spent (the /me lookup), and the result says so.
                [200, 400, 403, 502, 504].contains(shownResult.status), "the result page for \(ticket.shown) answered \(shownResult.status)")
            try checkResponse(shownResult, to: result)
            var withoutCookie = result
            withoutCookie.headers["cookie"] = nil
            let other = withoutCookie
            let elsewhere = wait { await page.respond(to: other) }
            try require(elsewhere.status == 403, "the result page without the browser's cookie answered \(elsewhere.status)")
        }
    }

    func checkResponse(_ response: Response, to request: Request) throws(InvariantViolation) {
        try require(
            [200, 303, 400, 403, 404, 405, 502, 503, 504].contains(response.status),
            "\(request.method) ?\(request.query.shown) answered \(response.status): \(response.text.shown)")
        // A page carries the security headers; a JSON answer (Meta's callbacks) its own, and a JSON object.
        let isJSON = response.value(of: "Content-Type") == "application/json"
        let expectedHeaders = isJSON ? MetaCallback.jsonHeaders : Pages.securityHeaders
        try require(
            response.headers.prefix(expectedHeaders.count).elementsEqual(expectedHeaders) { $0.name == $1.name && $0.value == $1.value },
            "the answer lacks its security headers: \(response.headers)")
        if isJSON {
            try require(
                (try? JSONSerialization.jsonObject(with: Data(response.body))) is [String: Any], "a JSON answer is not an object: \(response.text.shown)")
        }
        // A path outside the page's folder is not found, whatever the method; the page's own path asked with
        // another method than GET or HEAD is refused with the methods it answers.
        let folder = "/instagram/"
        if !request.path.isEmpty && !request.path.hasPrefix(folder) {
            try require(response.status == 404, "\(request.path.shown) outside \(folder) answered \(response.status)")
        } else if request.method != "GET" && request.method != "HEAD" && [folder, ""].contains(request.path) {
            try require(response.status == 405 && response.value(of: "Allow") == "GET, HEAD", "\(request.method.shown) answered \(response.status)")
        }
        if let location = response.value(of: "Location") {
            let ticket = location.dropFirst(PageTarget.redirectURI.count + "?result=".count)
            try require(
                response.status == 303 && location.hasPrefix(PageTarget.redirectURI + "?result=") && !ticket.isEmpty
                    && ticket.utf8.allSatisfy(QueryTarget.isEncodedByte),
                "Location \(location.shown)")
        }
        if let setCookie = response.value(of: "Set-Cookie") {
            let value = String(setCookie.prefix { $0 != ";" }.dropFirst(cookie.name.count + 1))
            try require(setCookie.hasPrefix(cookie.name + "=") && cookie.isOurs(value), "Set-Cookie \(setCookie.shown)")
            // A browser id this site issued is kept; any other is replaced, never adopted.
            if let sent = CookieHeader.value(named: cookie.name, in: request.headers["cookie"]), cookie.isOurs(sent) {
                try require(value == sent, "the browser's id \(sent.shown) was replaced by \(value.shown)")
            }
        }
        // Text from the request or from Instagram is escaped: the only tags are the templates' own,
        // and links lead only to this page or to Instagram's authorize dialog.
        let html = response.text
        for tag in Harness.tags(in: html) where !Harness.templateTags.contains(tag.lowercased()) {
            throw InvariantViolation("a <\(tag)> tag in the page for ?\(request.query.shown)")
        }
        for link in Harness.links(in: html) {
            try require(
                link.hasPrefix(PageTarget.redirectURI) || link.hasPrefix(configuration.endpoints.oauthBaseURL + "/oauth/authorize?"),
                "a link to \(link.shown)")
        }
    }

    /// A call of the feed's fetch, which a connection starts: the account's media, or an image copied.
    static func isFeedCall(_ call: OutgoingRequest) -> Bool {
        call.method == .get && (call.url.hasPrefix("https://graph.instagram.com/me/media?") || call.maxBodyBytes != nil)
    }

    /// Calls go to the configured hosts only, the token exchange first and with the request's code.
    func checkCalls(_ calls: [OutgoingRequest], code: String?) throws(InvariantViolation) {
        try require(calls.count <= 3, "\(calls.count) calls to Instagram for one callback")
        for (index, call) in calls.enumerated() {
            guard let url = URLComponents(string: call.url) else { throw InvariantViolation("a call to \(call.url.shown)") }
            let place = "\(call.method.rawValue) \(url.scheme ?? "")://\(url.host ?? "")\(url.path)"
            let allowed =
                index == 0
                ? ["POST https://api.instagram.com/oauth/access_token"]
                : ["GET https://graph.instagram.com/access_token", "GET https://graph.instagram.com/me"]
            try require(allowed.contains(place), "call \(index + 1) went to \(call.url.shown)")
            if index == 0 {
                let form = firstValues(call.form ?? [])
                try require(
                    form["code"] == code && form["client_secret"] == PageTarget.appSecret && form["redirect_uri"] == PageTarget.redirectURI,
                    "the token exchange sent \(call.form ?? [])")
            }
        }
    }

    // MARK: - Helpers

    static let templateTags: Set<String> = [
        "!doctype", "html", "head", "meta", "title", "style", "body", "main", "h1", "p", "a", "dl", "dt", "dd", "code",
    ]

    static func tags(in html: String) -> [String] {
        html.components(separatedBy: "<").dropFirst().map { part in
            let name = part.drop { $0 == "/" }.prefix { $0.isLetter || $0.isNumber || $0 == "!" }
            return String(name)
        }
    }

    static func links(in html: String) -> [String] {
        html.components(separatedBy: "href=\"").dropFirst().map {
            String($0.prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
        }
    }

    func firstValues(_ pairs: [(String, String)]) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in pairs where values[name] == nil { values[name] = value }
        return values
    }

    func cleanCode(_ raw: String) -> String {
        var code = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if code.hasSuffix("#_") { code.removeLast(2) }
        return code
    }

    /// Instagram's codes: URL-safe characters, at most 2048.
    func isWellFormedCode(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= 2048
            && code.unicodeScalars.allSatisfy { $0.isASCII && $0 != "%" && QueryTarget.isEncodedByte(UInt8($0.value)) }
    }

    /// What a code or token looks like (letters and digits, no spaces), unlike the words of a page.
    func looksLikeASecret(_ text: String) -> Bool {
        text.utf8.count >= 9 && text.unicodeScalars.contains { ("0"..."9").contains($0) }
            && text.unicodeScalars.contains { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
            && !text.unicodeScalars.contains { $0.properties.isWhitespace }
    }

    /// Every text the input controls, as the program sees it decoded.
    func controlledTexts(params: [String: String], query: [String: String], replies: [InstagramAnswer]) -> [String] {
        params.filter { $0.key != "QUERY_STRING" }.flatMap { [$0.key, $0.value] }
            + FormEncoding.decode(params["QUERY_STRING"] ?? "").flatMap { [$0.0, $0.1] }
            + replies.flatMap(\.texts)
    }

    /// Found in one of the texts only: the text the value came from.
    func isUnique(_ value: String, in texts: [String]) -> Bool {
        texts.filter { $0.contains(value) }.count == 1
    }

    func wait(_ work: @escaping @Sendable () async -> Response) -> Response {
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.response = await work()
            done.signal()
        }
        done.wait()
        return box.response!
    }
}

final class ResponseBox: @unchecked Sendable {
    var response: Response?
}

/// One answer from "Instagram", as the input gives it.
struct InstagramAnswer: Sendable {
    enum Outcome: Sendable {
        case answer(status: Int, body: [UInt8])
        case error(InstagramError)
    }

    let outcome: Outcome
    let json: JSONValue?

    init(_ text: String) {
        let (head, body) = Array(text.utf8).splitOnce([UInt8(ascii: "\n")])
        switch head.text.trimmingCharacters(in: .whitespaces) {
        case "timeout": outcome = .error(.timedOut(seconds: 1))
        case "unreachable": outcome = .error(.unreachable("connection refused"))
        case let status: outcome = .answer(status: Int(status).flatMap { (100...599).contains($0) ? $0 : nil } ?? 200, body: body ?? [])
        }
        if case .answer(_, let body) = outcome { json = JSONValue.parse(body) } else { json = nil }
    }

    /// Every string and key in the body, or the body itself when it is not JSON.
    var texts: [String] {
        guard case .answer(_, let body) = outcome else { return [] }
        guard let json else { return [body.text] }
        var found: [String] = []
        func walk(_ value: JSONValue) {
            switch value {
            case .string(let text), .integer(let text): found.append(text)
            case .array(let items): items.forEach(walk)
            case .object(let members):
                for (key, member) in members {
                    found.append(key)
                    walk(member)
                }
            default: break
            }
        }
        walk(json)
        return found
    }

    /// The access tokens the body carries, flat or in `data[]`.
    var tokens: [String] {
        guard let json else { return [] }
        var found = [json["access_token"]?.string].compactMap { $0 }
        if case .array(let items)? = json["data"] { found += items.compactMap { $0["access_token"]?.string } }
        return found
    }
}

/// Instagram for the page: answers the calls in order from the input's replies, and records them.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var replies: [InstagramAnswer]
    private var sent: [OutgoingRequest] = []

    init(replies: [InstagramAnswer]) { self.replies = replies }

    var calls: [OutgoingRequest] { lock.withLock { sent } }

    func send(_ request: OutgoingRequest) async throws(InstagramError) -> IncomingReply {
        let reply: InstagramAnswer? = lock.withLock {
            sent.append(request)
            return replies.isEmpty ? nil : replies.removeFirst()
        }
        switch reply?.outcome {
        case .answer(let status, let body)?: return IncomingReply(status: status, body: body)
        case .error(let error)?: throw error
        case nil: throw .unreachable("connection refused")
        }
    }
}

