import Foundation
import Testing

/// `feed.html` through nginx: on its own, included by a site's page with SSI, and the feed behind nginx's cache.
@Suite("The feed as HTML and behind nginx's cache", .serialized)
struct FeedPageTests {
    let feed = FeedTests()

    func htmlURL(_ stack: Stack, _ query: String = "") -> String {
        "http://127.0.0.1:\(stack.port)/instagram/feed.html" + (query.isEmpty ? "" : "?" + query)
    }

    @Test func theFeedAsHTMLIsEscapedCarriesNoScriptAndIsFramedByNobody() async throws {
        try await withStack { stack in
            let none = try await stack.request(htmlURL(stack))
            #expect(none.status == 404)
            #expect(none.body.hasPrefix("<!-- instagram feed: no Instagram account is connected"), "\(none.body)")

            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            let page = try await stack.request(htmlURL(stack, "limit=6"))
            #expect(page.status == 200)
            #expect(page.headers.first(name: "Content-Type") == "text/html; charset=utf-8")
            #expect(page.body.components(separatedBy: "<li class=\"instagram-post").count - 1 == 6)
            #expect(page.body.contains("Sunrise &lt;b&gt;over&lt;/b&gt; the &quot;bay&quot; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!page.body.contains("<script") && !page.body.contains("<b>"), "a caption's markup is text")
            #expect(page.body.contains("src=\"http://127.0.0.1:\(stack.port)/instagram/media/"), "the site's own copies")
            #expect(page.body.contains("href=\"https://www.instagram.com/p/EMU0/\""))
            #expect(page.body.contains("instagram-carousel_album") && page.body.contains("instagram-video"))
            #expect(!page.body.contains("IGAA"))
            #expect(page.headers.first(name: "X-Frame-Options") == "DENY")
            #expect(page.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(page.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
            let etag = try #require(page.headers.first(name: "ETag"))
            #expect(try await stack.request(htmlURL(stack, "limit=6"), headers: [("If-None-Match", etag)]).status == 304)
            let bad = try await stack.request(htmlURL(stack, "limit=1000"))
            #expect(bad.status == 400 && bad.body.contains("limit must be a whole number"))
        }
    }

    @Test func framingIsAllowedOnlyToTheListedAncestors() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_FEED_FRAME_ANCESTORS": "https://shop.example https://blog.example"])) { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            let page = try await stack.request(htmlURL(stack))
            #expect(page.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors https://shop.example https://blog.example") == true)
            #expect(page.headers.first(name: "X-Frame-Options") == nil)
        }
    }

    @Test func aSitesPageIncludesTheFeedWithSSI() async throws {
        try await withStack(.init(example: "shared-hosting-php.conf", path: "/instagram/index.php")) { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            try """
            <!doctype html><title>Shop</title><h1>Our latest posts</h1>
            <!--# include virtual="/instagram/feed.html?limit=3" -->
            <footer>end</footer>
            """.write(toFile: stack.serverFolder + "/www/index.html", atomically: true, encoding: .utf8)
            let page = try await stack.request("http://127.0.0.1:\(stack.port)/index.html")
            #expect(page.status == 200)
            #expect(page.body.contains("<h1>Our latest posts</h1>") && page.body.contains("<footer>end</footer>"))
            #expect(page.body.components(separatedBy: "<li class=\"instagram-post").count - 1 == 3, "\(page.body)")
            #expect(!page.body.contains("<!--#"), "nginx replaced the include")
        }
    }

    @Test func nginxCachesTheFeedAndItsImagesForAsLongAsTheyAreFresh() async throws {
        try await withStack(.init(example: "instagram-auth-cached.conf")) { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            let first = try await stack.request(feed.feedURL(stack))
            #expect(first.headers.first(name: "X-Cache-Status") == "MISS")
            let second = try await stack.request(feed.feedURL(stack))
            #expect(second.headers.first(name: "X-Cache-Status") == "HIT")
            #expect(second.body == first.body)
            let image = try #require(MediaTests().imageURLs(feed.items(first)).first)
            #expect(try await stack.request(image).headers.first(name: "X-Cache-Status") == "MISS")
            let cached = try await stack.request(image)
            #expect(cached.headers.first(name: "X-Cache-Status") == "HIT" && cached.status == 200)
            // The page itself is never cached.
            #expect(try await stack.page().headers.first(name: "X-Cache-Status") == nil)
        }
    }
}
