import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The feed's images, copied from the emulator's CDN into the media folder and served by the page.
@Suite("Feed images through nginx", .serialized)
struct MediaTests {
    let feed = FeedTests()

    func mediaFolder(_ stack: Stack) -> String {
        URL(fileURLWithPath: stack.databasePath).deletingLastPathComponent().appendingPathComponent("media").path
    }

    func files(_ stack: Stack) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: mediaFolder(stack))) ?? []).sorted()
    }

    /// Every image URL of the feed: posts' and carousel items'.
    func imageURLs(_ posts: [[String: Any]]) -> [String] {
        var urls: [String] = []
        for post in posts {
            let kind = post["media_type"] as? String
            if let url = (kind == "VIDEO" ? post["thumbnail_url"] : post["media_url"]) as? String { urls.append(url) }
            for child in ((post["children"] as? [String: Any])?["data"] as? [[String: Any]]) ?? [] {
                if let url = (child["media_type"] as? String == "VIDEO" ? child["thumbnail_url"] : child["media_url"]) as? String { urls.append(url) }
            }
        }
        return urls
    }

    @Test func theFeedPointsAtCopiesTheSiteServes() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            let posts = feed.items(try await stack.request(feed.feedURL(stack)))
            let local = "http://127.0.0.1:\(stack.port)/instagram/media/"
            let urls = imageURLs(posts)
            #expect(urls.count == 48, "8 photos, 8 videos' poster frames, 8 carousels with 4 images each")
            #expect(urls.allSatisfy { $0.hasPrefix(local) }, "\(urls.filter { !$0.hasPrefix(local) })")
            #expect((posts[0]["instagram_media_url"] as? String)?.contains("/_cdn/") == true, "Instagram's URL kept beside")
            #expect((posts[1]["media_url"] as? String)?.hasSuffix(".mp4") == false || (posts[1]["media_url"] as? String)?.contains("/_cdn/") == true,
                "a video itself stays on Instagram")
            #expect(Set(urls).count == files(stack).count, "one file for each image, no other")

            let image = try await stack.request(urls[0])
            #expect(image.status == 200)
            #expect(image.headers.first(name: "Content-Type") == "image/jpeg")
            #expect(image.headers.first(name: "Cache-Control") == "public, max-age=31536000, immutable")
            #expect(image.headers.first(name: "X-Content-Type-Options") == "nosniff")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: mediaFolder(stack) + "/" + String(urls[0].dropFirst(local.count))))
            #expect(bytes.starts(with: [0xFF, 0xD8, 0xFF]))
            let etag = try #require(image.headers.first(name: "ETag"))
            let revalidated = try await stack.request(urls[0], headers: [("If-None-Match", etag)])
            #expect(revalidated.status == 304)

            // A second fetch (the copy aged) keeps the copies: Instagram's URLs change, the images do not.
            let before = files(stack)
            let aged = try await feed.ageCopy(stack)
            let cdnCalls = try await stack.tokenRequests("/_cdn")
            _ = try await stack.request(feed.feedURL(stack))
            _ = try await feed.afterFetch(stack, since: aged)
            #expect(files(stack) == before)
            #expect(try await stack.tokenRequests("/_cdn") == cdnCalls)

            // Fewer posts: the copies of the posts gone leave with them.
            try await stack.emulatorControl("/_emulator/media?count=3")
            let again = try await feed.ageCopy(stack)
            _ = try await stack.request(feed.feedURL(stack))
            _ = try await feed.afterFetch(stack, since: again)
            // The copies of the posts gone are removed right after the copy is stored.
            for _ in 0..<50 where files(stack).count != 1 + 1 + 4 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(files(stack).count == 1 + 1 + 4)
        }
    }

    @Test func hostileMediaPathsAreNotFound() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            _ = try await stack.request(feed.feedURL(stack))
            let name = try #require(files(stack).first)
            // A name of ours that leads elsewhere: a symbolic link to the database.
            let fake = String(name.prefix(17)) + String(repeating: "0", count: 32) + ".jpg"
            #expect(symlink(stack.databasePath, mediaFolder(stack) + "/" + fake) == 0)
            let base = "http://127.0.0.1:\(stack.port)/instagram/media/"
            for path in [
                fake, "../accounts.sqlite3", "..%2Faccounts.sqlite3", "%2e%2e%2faccounts.sqlite3", name + "%00", name.uppercased(),
                "." + name, name + "/", "x/" + name, String(name.dropLast(4)) + ".svg", String(name.prefix(17)) + String(repeating: "f", count: 32) + ".jpg",
            ] {
                let reply = try await stack.request(base + path)
                // nginx refuses a NUL in a path itself (400); every other name is ours to refuse.
                #expect(reply.status == (path.hasSuffix("%00") ? 400 : 404), "media/\(path)")
                #expect(!reply.body.contains("SQLite"), "media/\(path)")
            }
            #expect(try await stack.request(base + name).status == 200)
        }
    }

    @Test(arguments: ["garbage", "huge", "expired"]) func anImageThatCannotBeCopiedKeepsInstagramsURL(_ fault: String) async throws {
        try await withStack { stack in
            try await stack.emulatorControl(fault == "expired" ? "/_emulator/media?url_lifetime=0" : "/_emulator/media?images=\(fault)")
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            let reply = try await stack.request(feed.feedURL(stack))
            #expect(reply.status == 200)
            let urls = imageURLs(feed.items(reply))
            #expect(urls.count == 48 && urls.allSatisfy { $0.contains("/_cdn/") }, "\(fault)")
            #expect(files(stack).isEmpty, "\(fault)")
        }
    }

    @Test func pngAndWebPAreCopiedAsWhatTheyAre() async throws {
        try await withStack { stack in
            try await stack.emulatorControl("/_emulator/media?images=webp&count=1")
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            let url = try #require(imageURLs(feed.items(try await stack.request(feed.feedURL(stack)))).first)
            #expect(url.hasSuffix(".webp"))
            #expect(try await stack.request(url).headers.first(name: "Content-Type") == "image/webp")
        }
    }

    @Test func theCopiesLeaveWithADeauthorizationADeletionOrForget() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack)
            _ = try await stack.request(feed.feedURL(stack))
            #expect(!files(stack).isEmpty)
            _ = try await MetaCallbackTests().callMeta(stack, "deauthorize")
            #expect(files(stack).isEmpty, "deauthorized")

            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack, 2)
            _ = try await stack.request(feed.feedURL(stack))
            let count = files(stack).count
            #expect(count > 0)
            let relayed = try await MetaCallbackTests().callMeta(stack, "delete-data")
            #expect(files(stack).isEmpty, "deleted")
            let url = try #require(MetaCallbackTests().json(relayed.body)["url"])
            let status = try await stack.request(url)
            #expect(status.body.contains("images: \(count) deleted"))

            _ = try await AccountFlowTests().connect(stack)
            try await feed.waitForFetches(stack, 3)
            _ = try await stack.request(feed.feedURL(stack))
            let forget = try await stack.command(["forget", "@emulated.creator"])
            #expect(forget.status == 0)
            #expect(forget.out.contains("\(count) image copies"))
            #expect(files(stack).isEmpty, "forgotten")
        }
    }
}
