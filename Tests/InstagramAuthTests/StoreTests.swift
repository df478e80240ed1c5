import Foundation
import Testing

@testable import InstagramAuth

func temporaryDatabase() throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("accounts.sqlite3").path
}

func sampleAccount(_ id: String = "17841405793187218", username: String? = "Shop.Owner", token: String = "IGAAfirst", now: Date = Date()) -> Account {
    Account(
        userID: id, username: username, accountType: "BUSINESS", accessToken: token, isLongLived: true,
        tokenObtainedAt: now, tokenExpiresAt: now + 60 * 86_400, permissions: ["instagram_business_basic"], connectedAt: now)
}

@Suite("The SQLite account store")
struct StoreTests {
    @Test func createsAPrivateFileWithTheSchema() async throws {
        let path = try temporaryDatabase()
        let store = try SQLiteAccountStore(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try await store.appliedMigrations() == ["v1: accounts and callbacks", "v2: callback age index"])
        #expect(try await store.integrityCheck() == "ok")
        #expect(throws: StoreError.self) { try SQLiteAccountStore(path: "/nonexistent-folder/a.sqlite3") }
    }

    @Test func savingTheSameAccountAgainUpdatesItInPlace() async throws {
        let path = try temporaryDatabase()
        let store = try SQLiteAccountStore(path: path)
        let first = sampleAccount(now: Date(timeIntervalSince1970: 1_800_000_000))
        try await store.save(first)
        var again = sampleAccount(username: nil, token: "IGAAsecond")
        again.status = .active
        try await store.save(again)
        let all = try await store.accounts()
        #expect(all.count == 1)
        #expect(all[0].accessToken == "IGAAsecond")
        #expect(all[0].username == "Shop.Owner", "a missing username does not erase the known one")
        #expect(all[0].connectedAt == first.connectedAt, "first connection time is kept")
        #expect(try await store.account("@shop.owner")?.userID == "17841405793187218")
        #expect(try await store.account("17841405793187218")?.username == "Shop.Owner")
        #expect(try await store.account("nobody") == nil)
        // A second handle on the same file sees it: the state lives in the file.
        #expect(try await SQLiteAccountStore(path: path).accounts().count == 1)
    }

    @Test func oneRefreshAtATimeAndNoOverwritingANewerAuthorization() async throws {
        let store = try SQLiteAccountStore(path: try temporaryDatabase())
        let now = Date()
        try await store.save(sampleAccount(now: now))
        #expect(try await store.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now))
        #expect(try await !store.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now + 10))
        #expect(try await store.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now + 301), "a stale claim is taken over")
        #expect(try await !store.claimRefresh(userID: "17841405793187218", token: "IGAAold", now: now + 700), "a token read before a refresh is not refreshed again")

        try await store.save(sampleAccount(token: "IGAAreauthorized", now: now))
        try await store.storeRefreshed(
            userID: "17841405793187218", previousToken: "IGAAfirst", token: "IGAArefreshed", isLongLived: true,
            expiresAt: now + 100, now: now)
        #expect(try await store.account("17841405793187218")?.accessToken == "IGAAreauthorized")

        try await store.storeRefreshed(
            userID: "17841405793187218", previousToken: "IGAAreauthorized", token: "IGAArefreshed", isLongLived: true,
            expiresAt: now + 100, now: now)
        let refreshed = try #require(try await store.account("17841405793187218"))
        #expect(refreshed.accessToken == "IGAArefreshed")
        #expect(refreshed.lastRefreshAt != nil)

        try await store.recordRefreshFailure(userID: "17841405793187218", error: "code 190", needsAuthorization: true, now: now)
        let failed = try #require(try await store.account("17841405793187218"))
        #expect(failed.status == .needsAuthorization)
        #expect(failed.statusDetail == "code 190")
    }

    @Test func aCodeIsClaimedOnceAndItsOutcomeKept() async throws {
        let store = try SQLiteAccountStore(path: try temporaryDatabase())
        let now = Date()
        guard case .claimed(let ticket) = try await store.claimCallback(codeHash: "h1", browserTag: "b", now: now) else {
            Issue.record("first claim refused")
            return
        }
        guard case .existing(let pending) = try await store.claimCallback(codeHash: "h1", browserTag: "b", now: now) else {
            Issue.record("second claim granted")
            return
        }
        #expect(pending.ticket == ticket)
        #expect(pending.outcome == nil)
        let outcome = CallbackOutcome(kind: .connected, userID: "1", status: 200, heading: "h", message: "m")
        try await store.completeCallback(codeHash: "h1", outcome: outcome, saving: nil, now: now)
        #expect(try await store.callback(ticket: ticket)?.outcome == outcome)
        try await store.releaseCallback(codeHash: "h1")
        #expect(try await store.callback(codeHash: "h1") != nil, "a finished outcome is not released")

        _ = try await store.claimCallback(codeHash: "h2", browserTag: "b", now: now)
        try await store.releaseCallback(codeHash: "h2")
        guard case .claimed = try await store.claimCallback(codeHash: "h2", browserTag: "b", now: now) else {
            Issue.record("a released code cannot be claimed again")
            return
        }
        _ = try await store.claimCallback(codeHash: "h3", browserTag: "b", now: now + 2 * 86_400)
        #expect(try await store.callback(ticket: ticket) == nil, "old results are cleaned up")
    }
}
