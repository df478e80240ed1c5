import Foundation
import InstagramEmulator
import Testing

@testable import InstagramAPI

@Suite("The account's media")
struct MediaDecodingTests {
    func page(_ body: String, status: Int = 200) throws(InstagramError) -> MediaPage {
        try ResponseDecoder.mediaPage(status: status, body: Array(body.utf8))
    }

    @Test func graphsShapeWithChildrenAndTheNextCursor() throws {
        let decoded = try page(
            #"""
            {"data":[{"id":"17900000000000001","caption":"Hi","media_type":"CAROUSEL_ALBUM","media_url":"https://scontent.cdninstagram.com/a.jpg",
            "permalink":"https://www.instagram.com/p/X/","timestamp":"2026-12-02T10:00:00+0000","username":"shop",
            "children":{"data":[{"id":17900000000000002,"media_type":"IMAGE","media_url":"https://scontent.cdninstagram.com/b.jpg"},{"media_type":"IMAGE"}]}}],
            "paging":{"cursors":{"before":"QVFI","after":"QVFIUm"},"next":"https://graph.instagram.com/v21.0/me/media?access_token=IGAAsecret&after=QVFIUm"}}
            """#)
        #expect(decoded.after == "QVFIUm")
        let item = try #require(decoded.items.first)
        #expect(item.id == "17900000000000001" && item.mediaType == "CAROUSEL_ALBUM" && item.caption == "Hi")
        #expect(item.children?.data == [MediaChild(id: "17900000000000002", mediaType: "IMAGE", mediaURL: "https://scontent.cdninstagram.com/b.jpg")],
            "a child without an id is left out")
        #expect(item.imageURL == "https://scontent.cdninstagram.com/a.jpg")
    }

    @Test func theLastPageHasNoCursorToFollow() throws {
        #expect(try page(#"{"data":[],"paging":{"cursors":{"before":"A","after":"B"}}}"#).after == nil, "no next: the end")
        #expect(try page(#"{"data":[]}"#).items.isEmpty)
    }

    @Test func urlsThatAreNotHTTPAreDroppedAndAVideoStandsForItsPosterFrame() throws {
        let decoded = try page(
            #"{"data":[{"id":"1","media_type":"VIDEO","media_url":"javascript:alert(1)","thumbnail_url":"https://x.fbcdn.net/t.jpg","permalink":"data:text/html,hi"}]}"#)
        let item = try #require(decoded.items.first)
        #expect(item.mediaURL == nil && item.permalink == nil)
        #expect(item.imageURL == "https://x.fbcdn.net/t.jpg")
    }

    @Test(arguments: [
        #"{"data":[{"media_type":"IMAGE"}]}"#, #"{"data":[{"id":"1"}]}"#, #"{"data":[{"id":"../1","media_type":"IMAGE"}]}"#,
        #"{"data":[{"id":"1","media_type":"<b>"}]}"#, #"{"data":{}}"#, #"{"items":[]}"#, "[]", "<html>",
    ])
    func garbageIsAnUnexpectedAnswer(_ body: String) {
        #expect(throws: InstagramError.self) { try page(body) }
    }

    @Test(arguments: [4, 17, 32, 613]) func rateLimitsAreRejectionsThatSaySo(_ code: Int) {
        do {
            _ = try page(#"{"error":{"message":"limit","type":"OAuthException","code":\#(code)}}"#, status: 400)
            Issue.record("no error")
        } catch {
            guard case .rejected(let rejection) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(rejection.isRateLimited && !rejection.isInvalidToken)
        }
    }

    @Test func theClientFollowsCursorsUpToTheLimitWithURLsOfItsOwn() async throws {
        let (server, emulator) = try await ClientTests().start()
        let (client, transport) = ClientTests().client(.instagramLogin, port: server.port)
        let code = emulator.issueCode(redirectURI: ClientTests.redirect, scopes: ["instagram_business_basic"])
        let token = try await client.exchange(code: code).accessToken
        _ = emulator.handle(method: "POST", path: "/_emulator/media", query: ["page_size": "4", "count": "10"], form: [:])
        let all = try await client.media(accessToken: token, limit: 24)
        #expect(all.count == 10)
        #expect(emulator.count(of: "/me/media") == 3)
        let some = try await client.media(accessToken: token, limit: 6)
        #expect(some.map(\.id) == Array(all.prefix(6)).map(\.id))
        #expect(emulator.count(of: "/me/media") == 5)
        #expect(all[2].children?.data.count == 3 && all[1].thumbnailURL != nil)
        await #expect(throws: InstagramError.self) { try await client.media(accessToken: "IGAAwrong", limit: 5) }
        await transport.shutdown()
        try await server.close()
    }
}
