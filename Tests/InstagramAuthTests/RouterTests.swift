import Accounts
import FastCGI
import Foundation
import InstagramAPI
import InstagramEmulator
import LogHandlers
import Logging
import SQLiteStore
import Testing

@testable import InstagramAuth

/// The page with a real transport against the real emulator (over HTTP, and HTTPS where asked), and a real SQLite file.
final class PageHarness: @unchecked Sendable {
    static let redirect = "https://example.com/instagram/"
    static let secret = "page-secret"
    let server: EmulatorServer
    /// HTTPS servers on the same emulator, each with its certificate.
    private(set) var secureServers: [EmulatorServer] = []
    let emulator: Emulator
    let transport: AsyncHTTPTransport
    let store: SQLiteAccountStore
    let page: Router
    let folder: URL
    let logs = LogRecorder()
    let environment: [String: String]

    /// `https` points base URL settings (`INSTAGRAM_API_BASE_URL`…) at an HTTPS server with the given certificate;
    /// `trustRoots` is a PEM file the transport trusts besides the system's.
    init(
        _ extra: [String: String] = [:], https: [String: EmulatorServer.TLSFiles] = [:], trustRoots: String? = nil
    ) async throws {
        emulator = Emulator(
            app: .init(id: "4242", secret: Self.secret, redirectURIs: [Self.redirect]),
            user: .init(id: "17841405793187218", username: "tester"))
        server = try await EmulatorServer(emulator: emulator, host: "127.0.0.1", port: 0)
        let base = server.baseURL
        var environment = [
            "INSTAGRAM_APP_ID": "4242", "INSTAGRAM_APP_SECRET": Self.secret, "INSTAGRAM_REDIRECT_URI": Self.redirect,
            "INSTAGRAM_OAUTH_BASE_URL": base, "INSTAGRAM_API_BASE_URL": base, "INSTAGRAM_GRAPH_BASE_URL": base,
            "INSTAGRAM_HTTP_TIMEOUT": "1", "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
        ]
        for (key, files) in https {
            let secure = try await EmulatorServer(emulator: emulator, host: "127.0.0.1", port: 0, tls: files)
            secureServers.append(secure)
            environment[key] = secure.baseURL
        }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("page-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        environment["INSTAGRAM_AUTH_DATABASE"] = folder.appendingPathComponent("accounts.sqlite3").path
        environment.merge(extra) { _, new in new }
        self.environment = environment
        let configuration = try Configuration.load(environment: environment)
        transport = AsyncHTTPTransport(timeoutSeconds: configuration.httpTimeoutSeconds, additionalTrustRootsFile: trustRoots)
        guard case .sqlite(let path) = configuration.database else { throw StoreError("not a SQLite file") }
        store = try SQLiteAccountStore(path: path)
        page = Router(
            configuration: configuration, transport: transport, store: store,
            pages: try Pages(overrides: configuration.templatesDirectory), logger: logs.logger())
    }

    /// One more HTTPS server on the emulator, closed with the harness.
    func startSecureServer(_ files: EmulatorServer.TLSFiles) async throws -> EmulatorServer {
        let secure = try await EmulatorServer(emulator: emulator, host: "127.0.0.1", port: 0, tls: files)
        secureServers.append(secure)
        return secure
    }

    /// The same site (store, transport, keys) with some settings changed, as after fixing the configuration.
    func page(_ changes: [String: String]) throws -> Router {
        let configuration = try Configuration.load(environment: environment.merging(changes) { _, new in new })
        return Router(
            configuration: configuration, transport: transport, store: store,
            pages: try Pages(overrides: configuration.templatesDirectory), logger: logs.logger())
    }

    func get(_ query: String, cookie: String? = nil, method: String = "GET", on page: Router? = nil) async -> Response {
        await (page ?? self.page).respond(to: Request(method: method, query: query, headers: cookie.map { ["cookie": $0] } ?? [:]))
    }

    /// A GET that follows the page's 303 to its result, as a browser does.
    func visit(_ query: String, cookie: String? = nil, on page: Router? = nil) async -> Response {
        await follow(await get(query, cookie: cookie, on: page), cookie: cookie, on: page)
    }

    /// The result a 303 points to, or the response itself.
    func follow(_ first: Response, cookie: String?, on page: Router? = nil) async -> Response {
        guard first.status == 303, let location = first.value(of: "Location"), let split = location.firstIndex(of: "?") else {
            return first
        }
        #expect(location.hasPrefix(Self.redirect + "?result="))
        return await get(String(location[location.index(after: split)...]), cookie: cookie, on: page)
    }

    /// The Cookie header of another browser this page issued an id to.
    func anotherBrowser() -> String {
        "\(page.context.cookie.name)=\(page.context.cookie.newValue())"
    }

    /// Opens the authorize page and returns the state and the cookie it set.
    func begin() async -> (state: String, cookie: String) {
        let response = await get("")
        let cookie = response.value(of: "Set-Cookie")!.components(separatedBy: ";")[0]
        let html = String(decoding: response.body, as: UTF8.self)
        let state = html.components(separatedBy: "state=")[1].components(separatedBy: "\"")[0]
        return (state, cookie)
    }

    func code(scopes: [String] = ["instagram_business_basic"]) -> String {
        emulator.issueCode(redirectURI: Self.redirect, scopes: scopes)
    }

    func close() async throws {
        await transport.shutdown()
        try await server.close()
        for secure in secureServers { try await secure.close() }
        try? FileManager.default.removeItem(at: folder)
    }
}


@Suite("The page", .serialized)
struct RouterTests {
    @Test func authorizePageLinksToInstagramWithStateAndSetsTheCookie() async throws {
        let harness = try await PageHarness()
        let response = await harness.get("")
        #expect(response.status == 200)
        for (name, value) in Pages.securityHeaders { #expect(response.value(of: name) == value) }
        #expect(response.value(of: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
        let cookie = try #require(response.value(of: "Set-Cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"))
        #expect(cookie.contains("Path=/instagram/"))
        #expect(response.text.contains("Authorize with Instagram"))
        #expect(response.text.contains("/oauth/authorize?client_id=4242&amp;redirect_uri=https%3A%2F%2Fexample.com%2Finstagram%2F&amp;scope=instagram_business_basic&amp;response_type=code"))
        #expect(!response.text.contains("page-secret"))
        try await harness.close()
    }

    @Test func aFirstVisitsBrowserIdAndStateShareNoRandomBytes() async throws {
        let harness = try await PageHarness()
        var seen: Set<[UInt8]> = []
        for _ in 0..<2 {
            let (state, cookie) = await harness.begin()
            let browser = String(cookie.split(separator: "=", maxSplits: 1)[1])
            #expect(harness.page.context.signer.verify(state, browser: browser) == .valid)
            // The browser id's random part, and the state's nonce: drawn at once, apart.
            let random = try #require(Base64URL.decode(browser)).prefix(BrowserCookie.randomCount)
            let nonce = try #require(Base64URL.decode(state.components(separatedBy: ".")[2]))
            #expect(nonce.count == StateSigner.nonceCount)
            #expect(!random.starts(with: nonce) && !random.reversed().starts(with: nonce.reversed()))
            seen.insert(Array(random))
            seen.insert(nonce)
        }
        #expect(seen.count == 4)
        try await harness.close()
    }

    @Test func aKnownBrowserKeepsItsCookie() async throws {
        let harness = try await PageHarness()
        let (_, cookie) = await harness.begin()
        let again = await harness.get("", cookie: cookie)
        #expect(again.value(of: "Set-Cookie")?.hasPrefix(cookie + ";") == true)
        try await harness.close()
    }

    @Test func callbackExchangesTheCodeAndNamesTheAccount() async throws {
        let harness = try await PageHarness()
        let (state, cookie) = await harness.begin()
        let code = harness.code()
        let first = await harness.get("code=\(code)%23_&state=\(state)", cookie: cookie)
        #expect(first.status == 303)
        let location = try #require(first.value(of: "Location"))
        #expect(!location.contains(code), "the browser ends on a URL without the code")
        // The 303's own page links on to the result, for a client that does not follow redirects.
        #expect(first.text.contains(#"<a class="button" href="\#(location.replacingOccurrences(of: "&", with: "&amp;"))">Continue to the result</a>"#))
        #expect(!first.text.contains("Start again"))
        let response = await harness.visit("code=\(code)&state=\(state)", cookie: cookie)
        #expect(response.status == 200)
        #expect(response.text.contains("@tester (17841405793187218)"))
        #expect(!response.text.contains("IGAA"), "the token is shown only when asked for")
        #expect(harness.emulator.count(of: "/oauth/access_token") == 1, "the same code again shows the first result")
        #expect(harness.emulator.count(of: "/access_token") == 1)
        let stored = try #require(try await harness.store.account("tester"))
        #expect(stored.isLongLived)
        #expect(stored.tokenExpiresAt > Date() + 50 * 86_400)
        #expect(await harness.get(String(location.split(separator: "?")[1]), cookie: harness.anotherBrowser()).status == 403)
        try await harness.close()
    }

    @Test func aClaimLeftBehindByARequestThatDiedIsTakenOverInsteadOfWaitedFor() async throws {
        let harness = try await PageHarness()
        let (state, cookie) = await harness.begin()
        let code = harness.code()
        // A host claimed this code an hour ago and never finished (it stopped, or its database call failed).
        let configuration = try Configuration.load(environment: harness.environment)
        let signer = StateSigner(key: configuration.stateKey, lifetimeSeconds: configuration.stateLifetimeSeconds)
        let browser = String(cookie.dropFirst("\(harness.page.context.cookie.name)=".count))
        _ = try await harness.store.claimCallback(codeHash: CallbackHandler.codeHash(code), browserTag: signer.bindingTag(browser), now: Date() - 3600)
        let began = Date()
        let response = await harness.visit("code=\(code)&state=\(state)", cookie: cookie)
        #expect(response.status == 200 && response.text.contains("@tester (17841405793187218)"))
        #expect(Date().timeIntervalSince(began) < 3, "waited for a claim nobody holds")
        #expect(harness.emulator.count(of: "/oauth/access_token") == 1)
        try await harness.close()
    }

    @Test func showTokenShowsIt() async throws {
        let harness = try await PageHarness(["INSTAGRAM_AUTH_SHOW_TOKEN": "1"])
        let (state, cookie) = await harness.begin()
        let response = await harness.visit("code=\(harness.code())&state=\(state)", cookie: cookie)
        #expect(response.text.contains("class=\"token\">IGAA"))
        try await harness.close()
    }

    @Test func badStateNeverReachesInstagram() async throws {
        let harness = try await PageHarness()
        let (state, cookie) = await harness.begin()
        let code = harness.code()
        let cases: [(String, String?, Int)] = [
            ("code=\(code)", cookie, 400),
            ("code=\(code)&state=forged", cookie, 403),
            ("code=\(code)&state=\(state)", nil, 403),
            ("code=\(code)&state=\(state)", harness.anotherBrowser(), 403),
        ]
        for (query, cookie, status) in cases {
            let response = await harness.get(query, cookie: cookie)
            #expect(response.status == status, "\(query) \(cookie ?? "-")")
            #expect(response.text.contains("Start again"))
        }
        #expect(harness.emulator.count(of: "/oauth/access_token") == 0)
        try await harness.close()
    }

    @Test func expiredStateIsRefused() async throws {
        let harness = try await PageHarness(["INSTAGRAM_AUTH_STATE_LIFETIME": "1"])
        let (state, cookie) = await harness.begin()
        try await Task.sleep(for: .milliseconds(2100))
        let response = await harness.get("code=\(harness.code())&state=\(state)", cookie: cookie)
        #expect(response.status == 400)
        #expect(response.text.contains("expired"))
        #expect(harness.emulator.count(of: "/oauth/access_token") == 0)
        try await harness.close()
    }

    /// Faults (timeouts, resets, 5xx, garbage, TLS, redirects) are `FaultMatrixTests`; this is Instagram saying no.
    @Test func instagramsRefusalOfTheCodeIsShownWithItsReason() async throws {
        let harness = try await PageHarness()
        let (state, cookie) = await harness.begin()
        let invalid = await harness.visit("code=AQnotissued&state=\(state)", cookie: cookie)
        #expect(invalid.status == 400)
        #expect(invalid.text.contains("Invalid authorization code"))
        try await harness.close()
    }

    @Test func declinedPageEscapesTheReason() async throws {
        let harness = try await PageHarness()
        let (state, cookie) = await harness.begin()
        let response = await harness.get(
            "error=access_denied&error_reason=user_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=\(state)", cookie: cookie)
        #expect(response.status == 200)
        #expect(response.text.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;") || response.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!response.text.contains("<script>"))
        #expect(response.text.contains("Try again"))
        try await harness.close()
    }

    @Test func malformedCodesAndOtherMethods() async throws {
        let harness = try await PageHarness()
        let (state, cookie) = await harness.begin()
        let script = await harness.get("code=%3Cscript%3E%22&state=\(state)", cookie: cookie)
        #expect(script.status == 400)
        #expect(!script.text.contains("<script>"))
        let long = await harness.get("code=\(String(repeating: "a", count: 3000))&state=\(state)", cookie: cookie)
        #expect(long.status == 400)
        #expect(harness.emulator.count(of: "/oauth/access_token") == 0)

        let post = await harness.get("", method: "POST")
        #expect(post.status == 405)
        #expect(post.value(of: "Allow") == "GET, HEAD")

        let head = await harness.get("code=\(harness.code())&state=\(state)", cookie: cookie, method: "HEAD")
        #expect(head.status == 200)
        #expect(harness.emulator.count(of: "/oauth/access_token") == 0, "HEAD must not spend the code")
        try await harness.close()
    }

    @Test func templatesCanBeOverridden() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tpl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "<p class=\"mine\">Link: <a href=\"{{authorizeURL}}\">go</a></p>".write(
            to: folder.appendingPathComponent("authorize.mustache"), atomically: true, encoding: .utf8)
        let harness = try await PageHarness(["INSTAGRAM_AUTH_TEMPLATES": folder.path])
        let response = await harness.get("")
        #expect(response.text.contains("<p class=\"mine\">Link:"))
        #expect(response.text.contains("<!doctype html>"), "the built-in layout still wraps it")
        try await harness.close()

        try "{{#broken}".write(to: folder.appendingPathComponent("error.mustache"), atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try Pages(overrides: folder.path) }
    }

    @Test func codeCleaning() {
        #expect(CallbackHandler.cleanCode("AQBcode#_") == "AQBcode")
        #expect(CallbackHandler.cleanCode(" AQBcode \n") == "AQBcode")
        #expect(CallbackHandler.cleanCode("AQB#_x") == "AQB#_x")
    }
}
