import Accounts
import Foundation

/// The store as the responder's handlers use it: each call's time goes to the request's timeline (the slow-request
/// log), as `store`.
struct TimedStore: AccountStore {
    let base: any AccountStore

    /// `call`, timed. Every call it is given is the base store's, which throws only `StoreError`.
    private func timed<T>(_ call: () async throws -> T) async throws(StoreError) -> T {
        let started = Timeline.current.map { _ in ContinuousClock.now }
        defer { if let started { Timeline.current?.add("store", seconds: Timeline.seconds(since: started)) } }
        do {
            return try await call()
        } catch let error as StoreError {
            throw error
        } catch {
            preconditionFailure("a store threw \(error), not a StoreError")
        }
    }

    func appliedMigrations() async throws(StoreError) -> [String] { try await timed { try await base.appliedMigrations() } }
    func checkWritable() async throws(StoreError) { try await timed { try await base.checkWritable() } }
    func close() async { await base.close() }

    func save(_ account: Account) async throws(StoreError) { try await timed { try await base.save(account) } }
    func accounts() async throws(StoreError) -> [Account] { try await timed { try await base.accounts() } }
    func account(_ who: String) async throws(StoreError) -> Account? { try await timed { try await base.account(who) } }

    func claimRefresh(userID: String, token: String, now: Date) async throws(StoreError) -> Bool {
        try await timed { try await base.claimRefresh(userID: userID, token: token, now: now) }
    }
    func storeRefreshed(userID: String, previousToken: String, token: String, isLongLived: Bool, expiresAt: Date, now: Date) async throws(StoreError) {
        try await timed {
            try await base.storeRefreshed(userID: userID, previousToken: previousToken, token: token, isLongLived: isLongLived, expiresAt: expiresAt, now: now)
        }
    }
    func recordRefreshFailure(userID: String, token: String, error: String, needsAuthorization: Bool, now: Date) async throws(StoreError) {
        try await timed {
            try await base.recordRefreshFailure(userID: userID, token: token, error: error, needsAuthorization: needsAuthorization, now: now)
        }
    }

    func claimCallback(codeHash: String, stateNonce: String?, browserTag: String, now: Date) async throws(StoreError) -> CallbackClaim {
        try await timed { try await base.claimCallback(codeHash: codeHash, stateNonce: stateNonce, browserTag: browserTag, now: now) }
    }
    func completeCallback(codeHash: String, outcome: CallbackOutcome, saving account: Account?, now: Date) async throws(StoreError) {
        try await timed { try await base.completeCallback(codeHash: codeHash, outcome: outcome, saving: account, now: now) }
    }
    func releaseCallback(codeHash: String, ticket: String?) async throws(StoreError) {
        try await timed { try await base.releaseCallback(codeHash: codeHash, ticket: ticket) }
    }
    func callback(ticket: String) async throws(StoreError) -> CallbackRecord? { try await timed { try await base.callback(ticket: ticket) } }
    func callback(codeHash: String) async throws(StoreError) -> CallbackRecord? {
        try await timed { try await base.callback(codeHash: codeHash) }
    }

    func sealPlainTokens() async throws(StoreError) -> Int { try await timed { try await base.sealPlainTokens() } }

    func deauthorize(userID: String, issuedAt: Date?, now: Date) async throws(StoreError) -> Bool {
        try await timed { try await base.deauthorize(userID: userID, issuedAt: issuedAt, now: now) }
    }
    func deleteEverything(about userID: String, requestKey: String, issuedAt: Date?, now: Date) async throws(StoreError) -> DeletionRecord {
        try await timed { try await base.deleteEverything(about: userID, requestKey: requestKey, issuedAt: issuedAt, now: now) }
    }
    func deletion(confirmationCode: String) async throws(StoreError) -> DeletionRecord? {
        try await timed { try await base.deletion(confirmationCode: confirmationCode) }
    }
    func recordMediaDeleted(confirmationCode: String, count: Int) async throws(StoreError) {
        try await timed { try await base.recordMediaDeleted(confirmationCode: confirmationCode, count: count) }
    }

    func feedOwners() async throws(StoreError) -> [FeedOwner] { try await timed { try await base.feedOwners() } }
    func feed(userID: String) async throws(StoreError) -> StoredFeed? { try await timed { try await base.feed(userID: userID) } }
    func claimFeedFetch(userID: String, now: Date) async throws(StoreError) -> Bool {
        try await timed { try await base.claimFeedFetch(userID: userID, now: now) }
    }
    func storeFeed(userID: String, media: String, now: Date, releasingClaim: Bool) async throws(StoreError) -> Bool {
        try await timed { try await base.storeFeed(userID: userID, media: media, now: now, releasingClaim: releasingClaim) }
    }
    func recordFeedFailure(userID: String, error: String, now: Date) async throws(StoreError) {
        try await timed { try await base.recordFeedFailure(userID: userID, error: error, now: now) }
    }
}
