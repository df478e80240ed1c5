import Accounts
import Foundation
import Testing

@testable import InstagramAuth

/// The cached feed in both stores: one fetch at a time, a copy kept only for an active account, a failure
/// that keeps the copy, and a copy that leaves with its account.
@Suite("The cached feed in the stores")
struct FeedStoreTests {
    let owner = "17841405793187218"
    let media = #"[{"id":"17900000000000001","media_type":"IMAGE"}]"#

    @Test(arguments: Backend.allCases) func oneFetchAtATimeAndAStaleClaimIsTakenOver(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date()
        #expect(try await store.claimFeedFetch(userID: owner, now: now) == false, "no such account")
        try await store.save(sampleAccount(owner))
        #expect(try await store.claimFeedFetch(userID: owner, now: now))
        #expect(try await store.claimFeedFetch(userID: owner, now: now + 10) == false, "another fetch holds it")
        #expect(try await store.claimFeedFetch(userID: owner, now: now + 301), "a claim left by a fetch that died")
        #expect(try await store.storeFeed(userID: owner, media: media, now: now + 302))
        #expect(try await store.claimFeedFetch(userID: owner, now: now + 303), "storing lets the claim go")
        await backend.close(store)
    }

    @Test(arguments: Backend.allCases) func aFailureKeepsTheLastGoodCopy(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.save(sampleAccount(owner))
        #expect(try await store.feed(userID: owner) == nil)
        #expect(try await store.claimFeedFetch(userID: owner, now: now))
        #expect(try await store.storeFeed(userID: owner, media: media, now: now))
        #expect(try await store.claimFeedFetch(userID: owner, now: now + 900))
        try await store.recordFeedFailure(userID: owner, error: "Instagram did not answer within 10 s", now: now + 910)
        let feed = try #require(try await store.feed(userID: owner))
        #expect(feed.media == media)
        #expect(feed.fetchedAt == now)
        #expect(feed.attemptedAt == now + 910)
        #expect(feed.failure == "Instagram did not answer within 10 s")
        #expect(try await store.claimFeedFetch(userID: owner, now: now + 911), "a failure lets the claim go")
        #expect(try await store.storeFeed(userID: owner, media: "[]", now: now + 920))
        #expect(try await store.feed(userID: owner)?.failure == nil, "a good fetch clears the failure")
        #expect(try await store.feedOwners() == [FeedOwner(userID: owner, username: "Shop.Owner", status: .active)])
        await backend.close(store)
    }

    @Test(arguments: Backend.allCases) func theCopyLeavesWithItsAccount(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date()
        try await store.save(sampleAccount(owner))
        #expect(try await store.storeFeed(userID: owner, media: media, now: now))
        #expect(try await store.deauthorize(userID: owner, now: now + 1))
        #expect(try await store.feed(userID: owner) == nil, "a deauthorization removes the copy")
        #expect(try await store.storeFeed(userID: owner, media: media, now: now + 2) == false, "a fetch that ends after it keeps nothing")
        #expect(try await store.feed(userID: owner) == nil)

        try await store.save(sampleAccount(owner, token: "IGAAagain"))
        #expect(try await store.storeFeed(userID: owner, media: media, now: now + 3))
        _ = try await store.deleteEverything(about: owner, requestKey: "key", now: now + 4)
        #expect(try await store.feed(userID: owner) == nil, "a deletion request removes the copy")
        #expect(try await store.storeFeed(userID: owner, media: media, now: now + 5) == false)
        #expect(try await store.feedOwners().isEmpty)
        await backend.close(store)
    }
}
