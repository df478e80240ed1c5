import Foundation

public struct StoreError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The database did not answer (down, unreachable, too slow): trying again later may work. False when
    /// it answered with a refusal (a wrong password, a missing database, a broken file).
    public let unreachable: Bool
    public init(_ description: String, unreachable: Bool = false) {
        self.description = description
        self.unreachable = unreachable
    }
}

/// Where connected accounts and callback results live: a SQLite file (`SQLiteAccountStore`) or
/// PostgreSQL (`PostgresAccountStore`). The page and the commands see only this protocol.
public protocol AccountStore: Sendable {
    /// The schema migrations applied, in order of their names.
    func appliedMigrations() async throws(StoreError) -> [String]
    /// Writes one row of its own (`store_check`): proves the store takes writes now, not only a lock.
    func checkWritable() async throws(StoreError)
    /// Lets go of the store's connections; the store is not used afterwards.
    func close() async

    /// Inserts the account, or updates it in place (keeping when it first connected).
    func save(_ account: Account) async throws(StoreError)
    func accounts() async throws(StoreError) -> [Account]
    /// By user id, or by username with or without `@`.
    func account(_ who: String) async throws(StoreError) -> Account?

    /// Takes the account for one refresh of `token`; false when another refresh holds it, or the token
    /// is no longer the stored one (another refresh, or a new authorization, came first).
    func claimRefresh(userID: String, token: String, now: Date) async throws(StoreError) -> Bool
    /// Stores a refreshed token, unless the account was authorized again meanwhile (its token is no longer `previousToken`).
    func storeRefreshed(
        userID: String, previousToken: String, token: String, isLongLived: Bool, expiresAt: Date, now: Date
    ) async throws(StoreError)
    /// Records a failed refresh, or a token Instagram rejected; with `needsAuthorization` the account must
    /// authorize again. Only while `token` (the one that failed) is still the stored one: an account that
    /// authorized again meanwhile is left as it is.
    func recordRefreshFailure(userID: String, token: String, error: String, needsAuthorization: Bool, now: Date) async throws(StoreError)

    /// Claims the code for one exchange, and with it `stateNonce` (the state it came with): a code already
    /// claimed is `existing`, another code with a state already used is `stateUsed`.
    func claimCallback(codeHash: String, stateNonce: String?, browserTag: String, now: Date) async throws(StoreError) -> CallbackClaim
    /// Records the outcome of a claimed callback; with `account`, saves it (as `save`) in the same transaction.
    func completeCallback(codeHash: String, outcome: CallbackOutcome, saving account: Account?, now: Date) async throws(StoreError)
    /// Forgets a claim that has no outcome (only the claim with `ticket`, when given), so a retry may
    /// exchange the code: one whose exchange failed before Instagram answered, or one abandoned by a
    /// request that died.
    func releaseCallback(codeHash: String, ticket: String?) async throws(StoreError)
    func callback(ticket: String) async throws(StoreError) -> CallbackRecord?
    func callback(codeHash: String) async throws(StoreError) -> CallbackRecord?

    /// Encrypts the tokens stored before a token key was set (none without a key); how many it encrypted.
    func sealPlainTokens() async throws(StoreError) -> Int

    /// Marks the account deauthorized and discards its token; false when no such account is stored, or when
    /// it authorized again after `issuedAt` (when Meta signed the request: a late or replayed one).
    func deauthorize(userID: String, issuedAt: Date?, now: Date) async throws(StoreError) -> Bool
    /// Deletes everything stored about `userID` in one transaction and records what under a new confirmation
    /// code; an account authorized again after `issuedAt` is kept. A request whose `requestKey` is already
    /// recorded changes nothing and answers its first record.
    func deleteEverything(about userID: String, requestKey: String, issuedAt: Date?, now: Date) async throws(StoreError) -> DeletionRecord
    func deletion(confirmationCode: String) async throws(StoreError) -> DeletionRecord?
    /// Adds to a deletion's record how many copies of feed images it removed (the files are not the store's).
    func recordMediaDeleted(confirmationCode: String, count: Int) async throws(StoreError)

    /// Every stored account as the feed sees it, without tokens, ordered as `accounts()`.
    func feedOwners() async throws(StoreError) -> [FeedOwner]
    func feed(userID: String) async throws(StoreError) -> StoredFeed?
    /// Takes the account's feed for one fetch: false when another fetch (in any process, on any host) holds it,
    /// or the account is not active.
    func claimFeedFetch(userID: String, now: Date) async throws(StoreError) -> Bool
    /// Keeps a fetched copy, and lets the claim go with `releasingClaim`: false, keeping nothing, when the
    /// account is gone or no longer active (deleted or deauthorized while the fetch ran).
    func storeFeed(userID: String, media: String, now: Date, releasingClaim: Bool) async throws(StoreError) -> Bool
    /// Records a failed fetch and lets the claim go; the last good copy stays.
    func recordFeedFailure(userID: String, error: String, now: Date) async throws(StoreError)
}

extension AccountStore {
    public func deauthorize(userID: String, now: Date) async throws(StoreError) -> Bool {
        try await deauthorize(userID: userID, issuedAt: nil, now: now)
    }

    public func deleteEverything(about userID: String, requestKey: String, now: Date) async throws(StoreError) -> DeletionRecord {
        try await deleteEverything(about: userID, requestKey: requestKey, issuedAt: nil, now: now)
    }

    public func claimCallback(codeHash: String, browserTag: String, now: Date) async throws(StoreError) -> CallbackClaim {
        try await claimCallback(codeHash: codeHash, stateNonce: nil, browserTag: browserTag, now: now)
    }

    public func storeFeed(userID: String, media: String, now: Date) async throws(StoreError) -> Bool {
        try await storeFeed(userID: userID, media: media, now: now, releasingClaim: true)
    }

    public func releaseCallback(codeHash: String) async throws(StoreError) {
        try await releaseCallback(codeHash: codeHash, ticket: nil)
    }
}
