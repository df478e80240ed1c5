import Accounts
import Crypto
import FastCGI
import Foundation
import InstagramAPI
import Logging
import Mustache
import Testing

@testable import InstagramAuth

/// The page's per-request work was rewritten for speed (bench/README.md): each fast path is checked
/// against the slower, obvious computation it replaces.
@Suite("Fast paths agree with the obvious computation")
struct HotPathTests {
    static let hostile = [
        "", "plain", "<script>alert('x')</script>", "a & b \"quoted\" 'single'", "ünïcödé ✓ 😀", "&amp;", "{{x}}", "%41+%",
        "line\nbreak\r\n", "tab\tand\0nul",
    ]

    /// Mustache's own HTML escaping, as the library does it for its HTML content type.
    static func libraryEscaped(_ text: String) throws -> String {
        let template = try MustacheTemplate(string: "{{x}}")
        return template.render(["x": text])
    }

    @Test func htmlEscapingMatchesTheLibrary() throws {
        for text in Self.hostile { #expect(HTMLEscaping.escape(text) == (try Self.libraryEscaped(text)), "\(text.debugDescription)") }
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("<>&\"'ab c😀é\u{0}/=")
        for _ in 0..<500 {
            let text = String((0..<Int.random(in: 0...20, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            #expect(HTMLEscaping.escape(text) == (try Self.libraryEscaped(text)), "\(text.debugDescription)")
        }
    }

    @Test func htmlEscapingAlsoEscapesAMarkupCharacterJoinedToACombiningMark() {
        // The library compares whole characters, so "<" followed by a combining accent slips through there.
        #expect(HTMLEscaping.escape("<\u{301}img src=x>") == "&lt;\u{301}img src=x&gt;")
    }

    @Test func simpleTemplatesAreOnlyTextAndPlainVariables() {
        #expect(SimpleTemplate("a {{x}} b {{{y}}} c {{& z}} {{ spaced }}")?.parts == [
            .text("a "), .escaped("x"), .text(" b "), .raw("y"), .text(" c "), .raw("z"), .text(" "), .escaped("spaced"),
        ])
        for source in ["{{#x}}y{{/x}}", "{{^x}}y{{/x}}", "{{> partial}}", "{{! comment}}", "{{=<% %>=}}", "{{a.b}}", "{{x", "{{}}", "{{%PRAGMA}}"] {
            #expect(SimpleTemplate(source) == nil, "\(source)")
        }
        #expect(SimpleTemplate(BuiltInTemplates.layout) != nil)
        #expect(SimpleTemplate(BuiltInTemplates.authorize) != nil)
        #expect(SimpleTemplate(BuiltInTemplates.success) == nil)
    }

    @Test func simpleTemplatesRenderAsTheLibraryDoes() throws {
        for (name, source) in BuiltInTemplates.all {
            guard let simple = SimpleTemplate(source) else { continue }
            let library = try MustacheTemplate(string: source)
            for value in Self.hostile {
                let values: [String: Any] = ["title": value, "content": value, "authorizeURL": value, "stateValidity": value]
                #expect(simple.render(values) == library.render(values), "\(name) with \(value.debugDescription)")
            }
            // A missing value renders as nothing in both.
            #expect(simple.render([:]) == library.render([String: Any]()), "\(name) without values")
        }
        // Other kinds of values are left to the library.
        #expect(SimpleTemplate("{{n}}")?.render(["n": 3]) == nil)
    }

    @Test(arguments: [
        nil, "twice {{authorizeURL}} and {{{authorizeURL}}}", "no link at all", "{{#authorizeURL}}in a section: {{authorizeURL}}{{/authorizeURL}}",
        "transformed: {{uppercased(authorizeURL)}}", "{{authorizeURL}} {{reversed(authorizeURL)}}",
    ])
    func theAuthorizePageMadeAroundItsStateIsTheRenderedPage(template: String?) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tpl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        if let template { try template.write(to: folder.appendingPathComponent("authorize.mustache"), atomically: true, encoding: .utf8) }
        let pages = try Pages(overrides: folder.path)
        let render: @Sendable (String) -> Response = { state in
            AuthorizeHandler.page(state: state, pages: pages, linkWithoutState: "https://example.com/oauth/authorize?a=1&state=", stateValidity: "10 minutes")
        }
        let around = PageAroundValue(render)
        let signer = StateSigner(key: Array(repeating: 7, count: 32))
        for state in [signer.issue(browser: "b"), "v1.1.a-b_c.d.e", "", "<b>&amp;", "a b", "ü", "%41"] {
            let extra: [(name: String, value: String)] = [("Set-Cookie", "c=\(state)")]
            var expected = render(state)
            expected.headers += extra
            #expect(around.response(for: state, extraHeaders: extra) == expected, "\(state.debugDescription)")
        }
    }

    @Test func aTemplateThatDoesNotParseFailsAtStartOrOnlyThePagesThatNeedIt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tpl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "{{#unclosed}}".write(to: folder.appendingPathComponent("error.mustache"), atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try Pages(overrides: folder.path) }

        let lazy = try Pages(overrides: folder.path, checked: false)
        let authorize = lazy.render("authorize", status: 200, title: "T", values: ["authorizeURL": "https://x/?a=1&b=2"])
        #expect(authorize.status == 200)
        #expect(String(decoding: authorize.body, as: UTF8.self).contains("https://x/?a=1&amp;b=2"))
        let error = lazy.render("error", status: 400, title: "T", values: ["heading": "H", "message": "M"])
        #expect(error.status == 500)
        #expect(String(decoding: error.body, as: UTF8.self).contains("instagram-auth check"))
    }

    @Test func keyedMACIsHMACWithTheKeyEveryTime() {
        let key: [UInt8] = Array("a state key that is long enough..".utf8)
        let keyed = KeyedMAC(HMAC<SHA256>(key: SymmetricKey(data: key)))
        for message in ["", "v1.1.2.3", String(repeating: "ü", count: 300), "v1.1.2.3"] {
            let expected = Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
            #expect(keyed.code(message.utf8) == expected, "\(message.prefix(10))")
        }
    }

    @Test func base64URLMatchesFoundationsBase64() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == bytes)
        }
    }

    @Test func randomBytesAreAsLongAsAskedAndDiffer() {
        for count in [0, 1, 7, 8, 9, 12, 18, 24, 33, 256, 300, 600] { #expect(RandomBytes.make(count).count == count) }
        #expect(RandomBytes.make(600).suffix(300) != [UInt8](repeating: 0, count: 300), "filled beyond the first 256 bytes")
        #expect(RandomBytes.make(24) != RandomBytes.make(24))
    }

    @Test func etagMatchingReadsTheHeaderAsRFC9110Says() {
        let etag = "\"abc\""
        // The obvious computation: split at commas, trim spaces and tabs, compare.
        func obvious(_ header: String) -> Bool {
            header.split(separator: ",", omittingEmptySubsequences: false).contains { part in
                let tag = String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
                return tag == "*" || tag == etag || tag == "W/" + etag
            }
        }
        let headers = [
            "", "*", etag, "W/" + etag, " \t\(etag)\t ", "\"x\", \(etag)", "\"x\",W/\(etag)", "\"x\"", "\"abc", "abc", "W/", "W/\"x\"", ",,",
            "\(etag)x", "x\(etag)", " , * ", "\"ABC\"", "\u{A0}\(etag)", "w/\(etag)", "\"x\", \"y\" ,\(etag)",
        ]
        for header in headers + Self.hostile {
            #expect(FeedDocument.matches(header, etag) == obvious(header), "\(header.debugDescription)")
        }
        #expect(!FeedDocument.matches(nil, etag))
        #expect(FeedDocument.matches(" \"x\" ,\t\(etag)", etag))
        #expect(!FeedDocument.matches("\"abd\"", etag))
    }

    @Test func percentEncodingMatchesTheRFC3986UnreservedSet() {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        for text in Self.hostile + ["https://example.com/instagram/?x=1", "AbC-._~", "a b+c"] {
            #expect(FormEncoding.percentEncode(text) == text.addingPercentEncoding(withAllowedCharacters: unreserved), "\(text.debugDescription)")
        }
    }

    @Test func theRoutesThatNeedNoIOAreAnsweredAtOnceAndTheRestAreNot() async throws {
        let harness = try await PageHarness()
        let page = harness.page
        let requests: [(Request, Int?)] = [
            (Request(method: "GET", query: "", headers: [:]), 200),
            (Request(method: "HEAD", query: "x=1", headers: [:]), 200),
            (Request(method: "GET", query: "error=access_denied&error_description=No", headers: [:]), 200),
            (Request(method: "POST", query: "code=abc", headers: [:]), 405),
            (Request(method: "GET", query: "code=abc&state=x", headers: [:]), nil),
            (Request(method: "GET", query: "result=ticket", headers: [:]), nil),
        ]
        for (request, status) in requests {
            let immediate = page.immediateResponse(to: request)
            #expect(immediate?.status == status, "\(request.method) \(request.query)")
            let answered = await page.respond(to: request)
            if let status { #expect(answered.status == status) }
        }
        // Nothing that needs Instagram was asked of it.
        #expect(harness.emulator.count(of: "/oauth/access_token") == 0)
        try await harness.close()
    }
}
