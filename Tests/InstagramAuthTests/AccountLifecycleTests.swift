import Accounts
import Foundation
import Testing

@testable import InstagramAuth

/// An account's end, in both stores: deauthorized on Instagram, or everything about it deleted.
@Suite("An account's end")
struct AccountLifecycleTests {
    @Test(arguments: Backend.allCases) func deauthorizingDiscardsTheTokenAndANewAuthorizationRestoresIt(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date()
        try await store.save(sampleAccount(token: "IGAAsecret-token"))
        #expect(try await store.deauthorize(userID: "17841405793187218", now: now))
        #expect(try await store.deauthorize(userID: "17841400000000009", now: now) == false, "an unknown account")
        let account = try #require(try await store.account("shop.owner"))
        #expect(account.status == .deauthorized)
        #expect(account.accessToken.isEmpty)
        #expect(account.inactiveReason?.contains("removed this site's access") == true)
        #expect(try await store.claimRefresh(userID: account.userID, token: "IGAAsecret-token", now: now) == false)
        try await store.save(sampleAccount(token: "IGAAnew"))
        #expect(try await store.account("shop.owner")?.status == .active)
        await backend.close(store)
    }

    @Test(arguments: Backend.allCases) func aDeletionRemovesTheAccountAndTheCallbacksNamingItAndAnswersTheSameCodeTwice(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date()
        let owner = "17841405793187218"
        try await store.save(sampleAccount(owner))
        try await store.save(sampleAccount("17841400000000002", username: "neighbour"))
        for (hash, outcome) in [
            ("a", CallbackOutcome.connected(userID: owner)), ("b", .notAllowed(userID: owner, username: "shop.owner")),
            ("c", .connected(userID: "17841400000000002")), ("d", .codeRefused(message: "used")),
        ] {
            _ = try await store.claimCallback(codeHash: hash, browserTag: "t", now: now)
            try await store.completeCallback(codeHash: hash, outcome: outcome, saving: nil, now: now)
        }

        let record = try await store.deleteEverything(about: owner, requestKey: "request-1", now: now)
        #expect(record.accountDeleted)
        #expect(record.callbacksDeleted == 2)
        #expect(record.confirmationCode.count == 16)
        #expect(try await store.account(owner) == nil)
        for hash in ["a", "b"] { #expect(try await store.callback(codeHash: hash) == nil, "\(hash)") }
        for hash in ["c", "d"] { #expect(try await store.callback(codeHash: hash) != nil, "others' records stay: \(hash)") }
        #expect(try await store.account("neighbour") != nil)

        let again = try await store.deleteEverything(about: owner, requestKey: "request-1", now: now + 60)
        #expect(again == record, "the same request answers its first record")
        let read = try #require(try await store.deletion(confirmationCode: record.confirmationCode))
        #expect(read.accountDeleted && read.callbacksDeleted == 2)
        #expect(abs(read.requestedAt.timeIntervalSince(now)) < 0.01)
        #expect(try await store.deletion(confirmationCode: "AAAAAAAAAAAAAAAA") == nil)

        let other = try await store.deleteEverything(about: owner, requestKey: "request-2", now: now)
        #expect(other.confirmationCode != record.confirmationCode)
        #expect(!other.accountDeleted && other.callbacksDeleted == 0)
        await backend.close(store)
    }

    @Test(arguments: Backend.allCases) func callbacksKeptBeforeTheMigrationAreFoundByTheirAccount(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let store = try await backend.open(place)
        let owner = "17841405793187218"
        _ = try await store.claimCallback(codeHash: "old", browserTag: "t", now: Date())
        try await store.completeCallback(codeHash: "old", outcome: .connected(userID: owner), saving: nil, now: Date())
        try await backend.execute("UPDATE callback SET user_id = NULL", at: place)
        try await backend.execute("DROP TABLE deletion", at: place)
        try await backend.execute("DROP INDEX callback_user_id", at: place)
        try await backend.execute("ALTER TABLE callback DROP COLUMN user_id", at: place)
        try await backend.execute("DELETE FROM \(backend.migrationsTable) WHERE identifier = 'v4: deletions'", at: place)
        // v6 changed the deletion table too: it runs again after v4.
        try await backend.execute("DROP TABLE feed", at: place)
        try await backend.execute("DELETE FROM \(backend.migrationsTable) WHERE identifier = 'v6: feeds'", at: place)
        await backend.close(store)

        let migrated = try await backend.open(place)
        let record = try await migrated.deleteEverything(about: owner, requestKey: "k", now: Date())
        #expect(record.callbacksDeleted == 1)
        await backend.close(migrated)
    }

    @Test(arguments: Backend.allCases) func aLateOrReplayedRequestLeavesAnAccountAuthorizedSince(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date()
        try await store.save(sampleAccount(token: "IGAAnewer", now: now))
        let before = now - 3600
        #expect(try await store.deauthorize(userID: "17841405793187218", issuedAt: before, now: now) == false)
        #expect(try await store.account("shop.owner")?.accessToken == "IGAAnewer")
        let deletion = try await store.deleteEverything(about: "17841405793187218", requestKey: "old", issuedAt: before, now: now)
        #expect(!deletion.accountDeleted)
        #expect(try await store.account("shop.owner") != nil)

        // A request already answered, sent again after the owner connected anew: nothing more is deleted.
        let first = try await store.deleteEverything(about: "17841405793187218", requestKey: "k", issuedAt: now + 60, now: now)
        #expect(first.accountDeleted)
        try await store.save(sampleAccount(token: "IGAAagain", now: now + 120))
        #expect(try await store.deleteEverything(about: "17841405793187218", requestKey: "k", issuedAt: now + 60, now: now + 180) == first)
        #expect(try await store.account("shop.owner")?.accessToken == "IGAAagain")
        await backend.close(store)
    }
}
