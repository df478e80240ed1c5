import Accounts
import Foundation
import SQLiteStore
import Testing

/// The cached feed through nginx, the real binary and the emulator's `/me/media`.
@Suite("The feed through nginx", .serialized)
struct FeedTests {
    static let userID = "17841405793187218"

    func feedURL(_ stack: Stack, _ query: String = "") -> String {
        "http://127.0.0.1:\(stack.port)/instagram/feed.json" + (query.isEmpty ? "" : "?" + query)
    }

    func object(_ reply: Stack.Reply) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]) ?? [:]
    }

    func items(_ reply: Stack.Reply) -> [[String: Any]] { object(reply)["data"] as? [[String: Any]] ?? [] }

    /// Waits until `count` fetches have ended in the responder, their images copied (or given up): the first
    /// answer for a new account comes before the copies, with Instagram's URLs.
    func waitForFetches(_ stack: Stack, _ count: Int = 1) async throws {
        for _ in 0..<100 {
            if stack.responderLog.components(separatedBy: "feed fetched").count - 1 >= count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StackError("\(count) feed fetches did not end within 10 s")
    }

    /// The connected account's feed, once its images are copied, and one of those loaded as an image: what
    /// every way of running the responder, behind every web server, must serve.
    func expectTheFeedServed(_ stack: Stack) async throws {
        let local = "http://127.0.0.1:\(stack.port)/instagram/media/"
        var posts: [[String: Any]] = []
        for _ in 0..<100 {
            posts = items(try await stack.request(feedURL(stack)))
            if (posts.first?["media_url"] as? String)?.hasPrefix(local) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(posts.count == 24)
        let image = try #require(posts.first?["media_url"] as? String)
        #expect(image.hasPrefix(local))
        let reply = try await stack.request(image)
        #expect(reply.status == 200 && reply.headers.first(name: "Content-Type") == "image/jpeg")
    }

    /// Makes the stored copy an hour old, as if its TTL had passed, and says when it was made so.
    func ageCopy(_ stack: Stack) async throws -> Date {
        let store = try SQLiteAccountStore(path: stack.databasePath)
        let feed = try #require(try await store.feed(userID: Self.userID))
        let aged = Date() - 3600
        #expect(try await store.storeFeed(userID: Self.userID, media: feed.media, now: aged))
        // Changed behind the responder's back, as by another process: seen once its remembered answers recheck.
        try await Task.sleep(for: .milliseconds(300))
        return aged
    }

    /// Waits until a fetch started after `since` has ended, and gives the copy as it then is.
    func afterFetch(_ stack: Stack, since: Date) async throws -> StoredFeed {
        let store = try SQLiteAccountStore(path: stack.databasePath)
        for _ in 0..<100 {
            if let feed = try await store.feed(userID: Self.userID), let attempted = feed.attemptedAt, attempted > since + 1 { return feed }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StackError("no fetch ended within 10 s")
    }

    @Test func aConnectedAccountsPostsAreServedFromTheCacheWithoutItsToken() async throws {
        try await withStack { stack in
            try await stack.emulatorControl("/_emulator/media?page_size=7")
            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack)
            let reply = try await stack.request(feedURL(stack))
            #expect(reply.status == 200, "\(reply.body)")
            let posts = items(reply)
            #expect(posts.count == 24, "INSTAGRAM_AUTH_FEED_SIZE's default, over four pages of seven")
            #expect(try await stack.tokenRequests("/me/media") == 4)
            #expect(posts.first?["caption"] as? String == #"Sunrise <b>over</b> the "bay" & <script>alert(1)</script> 🌅"#)
            #expect(posts.map { $0["media_type"] as? String } .prefix(3) == ["IMAGE", "VIDEO", "CAROUSEL_ALBUM"])
            #expect(((posts[2]["children"] as? [String: Any])?["data"] as? [Any])?.count == 3)
            #expect((posts[1]["instagram_thumbnail_url"] as? String)?.contains("/_cdn/") == true)
            #expect((posts[0]["permalink"] as? String)?.hasPrefix("https://www.instagram.com/p/") == true)
            let body = object(reply)
            #expect((body["account"] as? [String: Any])?["username"] as? String == "emulated.creator")
            #expect(body["stale"] as? Bool == false)
            #expect((body["updated_at"] as? String)?.hasSuffix("Z") == true)
            for absent in ["IGAA", "access_token", "paging", "after"] { #expect(!reply.body.contains(absent), "\(absent)") }
            #expect(reply.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
            #expect(reply.headers.first(name: "Cache-Control")?.hasPrefix("public, max-age=") == true)
            #expect(reply.headers.first(name: "Last-Modified")?.hasSuffix(" GMT") == true)
            #expect(reply.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(reply.headers.first(name: "Access-Control-Allow-Origin") == nil, "same origin only by default")

            // From the cache: no second call to Instagram.
            let again = try await stack.request(feedURL(stack))
            #expect(again.body == reply.body)
            #expect(try await stack.tokenRequests("/me/media") == 4)

            let etag = try #require(reply.headers.first(name: "ETag"))
            for validator in [etag, "W/" + etag, "\"other\", " + etag] {
                let revalidated = try await stack.request(feedURL(stack), headers: [("If-None-Match", validator)])
                #expect(revalidated.status == 304 && revalidated.body.isEmpty, "\(validator)")
                #expect(revalidated.headers.first(name: "ETag") == etag)
            }
            #expect(try await stack.request(feedURL(stack), headers: [("If-None-Match", "\"other\"")]).status == 200)

            let five = try await stack.request(feedURL(stack, "limit=5&account=@Emulated.Creator"))
            #expect(items(five).count == 5)
            #expect(five.headers.first(name: "ETag") != etag)
            let head = try await stack.request(feedURL(stack), method: .HEAD)
            #expect(head.status == 200 && head.body.isEmpty)
        }
    }

    @Test func badRequestsAreRefusedAndSayWhy() async throws {
        try await withStack { stack in
            let none = try await stack.request(feedURL(stack))
            #expect(none.status == 404)
            #expect(object(none)["error"] as? String == "no_account")
            #expect((object(none)["message"] as? String)?.contains(stack.redirectURI) == true)
            #expect(none.headers.first(name: "Cache-Control") == "no-store")

            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack)
            for limit in ["0", "25", "abc", "-1", "1e2", "%2B5", ""] {
                let reply = try await stack.request(feedURL(stack, "limit=\(limit)"))
                #expect(reply.status == 400, "limit=\(limit)")
                #expect(object(reply)["error"] as? String == "invalid_limit")
                #expect((object(reply)["message"] as? String)?.contains("from 1 to 24") == true)
            }
            let unknown = try await stack.request(feedURL(stack, "account=nobody"))
            #expect(unknown.status == 404 && object(unknown)["error"] as? String == "unknown_account")
            for hostile in ["..%2F..%2Fetc%2Fpasswd", "a%2Fb", "a%00b", "%3Cscript%3E", "", String(repeating: "a", count: 65)] {
                let reply = try await stack.request(feedURL(stack, "account=\(hostile)"))
                #expect(reply.status == 400, "account=\(hostile)")
                #expect(object(reply)["error"] as? String == "invalid_account")
                #expect(!reply.body.contains("<script>") && !reply.body.contains("passwd"))
            }
            let post = try await stack.request(feedURL(stack), method: .POST, form: [])
            #expect(post.status == 405 && post.headers.first(name: "Allow") == "GET, HEAD")
        }
    }

    @Test func instagramFailingLeavesTheLastGoodCopyServedAtOnceAndMarkedStale() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack)
            let first = try await stack.request(feedURL(stack))
            let posts = items(first) as NSArray
            let faults = [
                "/_emulator/fault?mode=hang&path=/me/media", "/_emulator/fault?mode=error&path=/me/media",
                "/_emulator/fault?mode=garbage&path=/me/media", "/_emulator/fault?mode=reset&path=/me/media",
                "/_emulator/media?error=4", "/_emulator/media?error=17", "/_emulator/media?error=32", "/_emulator/media?error=613",
            ]
            for fault in faults {
                try await stack.emulatorControl(fault)
                let aged = try await ageCopy(stack)
                let started = Date()
                let reply = try await stack.request(feedURL(stack))
                #expect(Date().timeIntervalSince(started) < 1.5, "\(fault): the visitor does not wait on Instagram")
                #expect(reply.status == 200 && object(reply)["stale"] as? Bool == true, "\(fault)")
                #expect(reply.headers.first(name: "Cache-Control") == "public, max-age=0")
                #expect(posts.isEqual(to: items(reply)), "\(fault)")
                let after = try await afterFetch(stack, since: aged)
                #expect(after.failure != nil, "\(fault)")
                #expect(after.fetchedAt.map { abs($0.timeIntervalSince(aged)) < 1 } == true, "\(fault): the copy stays")
                try await stack.emulatorControl("/_emulator/fault?mode=none")
                try await stack.emulatorControl("/_emulator/media?error=none")
            }
            // A failure a moment ago: visits do not make this site call Instagram again at once.
            let calls = try await stack.tokenRequests("/me/media")
            _ = try await stack.request(feedURL(stack))
            #expect(try await stack.tokenRequests("/me/media") == calls)

            // The token rejected: the account needs a new authorization; its last copy is still shown, stale.
            try await stack.emulatorControl("/_emulator/media?error=190")
            let aged = try await ageCopy(stack)
            #expect(try await stack.request(feedURL(stack)).status == 200)
            _ = try await afterFetch(stack, since: aged)
            let listed = try await stack.command(["accounts", "--json"])
            #expect(listed.out.contains("needs_authorization"))
            let stale = try await stack.request(feedURL(stack))
            #expect(stale.status == 200 && object(stale)["stale"] as? Bool == true)
            #expect(posts.isEqual(to: items(stale)))
        }
    }

    @Test func crossOriginReadersAreOnlyTheListedOrigins() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_FEED_ORIGINS": "https://shop.example, http://localhost:3000"])) { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack)
            let allowed = try await stack.request(feedURL(stack), headers: [("Origin", "https://shop.example")])
            #expect(allowed.headers.first(name: "Access-Control-Allow-Origin") == "https://shop.example")
            #expect(allowed.headers.first(name: "Vary") == "Origin")
            let local = try await stack.request(feedURL(stack), headers: [("Origin", "http://localhost:3000")])
            #expect(local.headers.first(name: "Access-Control-Allow-Origin") == "http://localhost:3000")
            for origin in ["https://evil.example", "https://shop.example.evil.example", "null"] {
                let refused = try await stack.request(feedURL(stack), headers: [("Origin", origin)])
                #expect(refused.status == 200 && refused.headers.first(name: "Access-Control-Allow-Origin") == nil, "\(origin)")
                #expect(refused.headers.first(name: "Vary") == "Origin")
            }
        }
    }

    @Test func theCopyLeavesWithADeauthorizationOrADeletion() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack)
            #expect(try await stack.request(feedURL(stack)).status == 200)
            _ = try await MetaCallbackTests().callMeta(stack, "deauthorize")
            let gone = try await stack.request(feedURL(stack))
            #expect(gone.status == 503 && object(gone)["error"] as? String == "needs_authorization")
            #expect((object(gone)["message"] as? String)?.contains("@emulated.creator") == true)

            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack, 2)
            #expect(try await stack.request(feedURL(stack)).status == 200)
            _ = try await MetaCallbackTests().callMeta(stack, "delete-data")
            let deleted = try await stack.request(feedURL(stack))
            #expect(deleted.status == 404 && object(deleted)["error"] as? String == "no_account")
        }
    }

    @Test func theFeedCommandPrintsTheCopyAndRefreshSaysWhyItFailed() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await waitForFetches(stack)
            let page = try await stack.request(feedURL(stack))
            let json = try await stack.command(["feed", "--json"])
            #expect(json.status == 0)
            #expect(json.out == page.body + "\n", "the same document as feed.json")
            let text = try await stack.command(["feed", "@emulated.creator", "--limit", "3"])
            #expect(text.status == 0)
            let lines = text.out.split(separator: "\n")
            #expect(lines.count == 4)
            #expect(lines.first?.hasPrefix("@emulated.creator: 24 posts, fetched ") == true)
            #expect(lines.dropFirst().allSatisfy { $0.contains("https://www.instagram.com/p/EMU") })

            try await stack.emulatorControl("/_emulator/fault?mode=error&path=/me/media")
            let failed = try await stack.command(["feed", "--refresh", "--json"])
            #expect(failed.status == 1)
            #expect(failed.err.contains("the feed was not fetched") && failed.err.contains("HTTP 500"))
            #expect(items(Stack.Reply(status: 200, headers: [:], body: failed.out, finished: Date())).count == 24, "the last copy is printed")
            let unknown = try await stack.command(["feed", "nobody"])
            #expect(unknown.status != 0 && unknown.err.contains("no connected account nobody"))
        }
    }
}
