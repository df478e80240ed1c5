import Accounts
import Foundation
import InstagramAPI
import Logging

/// Fetches an account's latest media into its cached feed. One fetch per account runs at a time, whatever
/// the process or host (the store's claim); whatever goes wrong, the last good copy stays.
public struct FeedFetcher: Sendable {
    /// What one fetch did.
    public enum Outcome: Sendable, Equatable {
        case fetched(items: Int)
        /// Another fetch holds the account's feed right now.
        case busy
        /// Asked only for a stale copy, and the copy is fresh.
        case notDue
        /// No such account, or it cannot fetch (it needs a new authorization, or was deauthorized).
        case inactive(String)
        /// Instagram rejected the token (code 190): the account now needs a new authorization.
        case needsAuthorization(String)
        /// Instagram was down, slow, rate limiting or answered garbage, or the store failed: the copy stays.
        case failed(String)
    }

    let client: InstagramClient
    let store: any AccountStore
    let settings: FeedSettings
    let copier: MediaCopier
    let hook: ChangeHook
    let logger: Logger

    /// The longest a fetch spends copying images: well within the claim's life (`AccountSQL.staleFeedClaim`), so
    /// that no second fetch takes the feed over while the first still writes.
    static let copyingTime: TimeInterval = 180

    public init(client: InstagramClient, store: any AccountStore, configuration: Configuration, hook: ChangeHook, logger: Logger) {
        self.hook = hook
        self.client = client
        self.store = store
        self.settings = configuration.feed
        self.copier = MediaCopier(folder: configuration.feed.media, client: client, baseURL: configuration.folderURL + MediaHandler.folder + "/", logger: logger)
        self.logger = logger
    }

    /// With `onlyWhenStale`, a copy younger than the TTL is left as it is (an account connecting again).
    public func fetch(userID: String, now: Date = Date(), onlyWhenStale: Bool = false) async -> Outcome {
        do {
            if onlyWhenStale, let feed = try await store.feed(userID: userID), !settings.isStale(fetchedAt: feed.fetchedAt, now: now) {
                return .notDue
            }
            return try await fetchOrThrow(userID: userID, now: now)
        } catch {
            logger.error("account store failed while fetching a feed", metadata: ["user_id": "\(userID)", "error": "\(error)"])
            return .failed(error.description)
        }
    }

    private func fetchOrThrow(userID: String, now: Date) async throws(StoreError) -> Outcome {
        guard let account = try await store.account(userID) else { return .inactive("no such account") }
        if let reason = account.inactiveReason { return .inactive(reason) }
        guard try await store.claimFeedFetch(userID: userID, now: now) else { return .busy }
        let media: [MediaItem]
        do {
            media = try await client.media(accessToken: account.accessToken, limit: settings.size)
        } catch {
            try await store.recordFeedFailure(userID: userID, error: error.description, now: Date())
            if case .rejected(let rejection) = error, rejection.isInvalidToken {
                // Only for the token that failed: an owner who connected again meanwhile keeps the new one.
                try await store.recordRefreshFailure(
                    userID: userID, token: account.accessToken, error: error.description, needsAuthorization: true, now: Date())
                hook.run(.needsAuthorization, userID: userID, username: account.username)
                logger.warning("feed fetch: Instagram rejected the token", metadata: ["account": "\(account.displayName)", "error": "\(error)"])
                return .needsAuthorization(error.description)
            }
            logger.warning("feed fetch failed; the last copy stays", metadata: ["account": "\(account.displayName)", "error": "\(error)"])
            return .failed(error.description)
        }
        let before = try await store.feed(userID: userID)
        let previous = before.map { FeedDocument.items(of: $0, logger: logger) } ?? []
        let gone = "the account was removed or deauthorized while its feed was fetched"
        // No copy yet: the posts are shown at once with Instagram's URLs; the copies of their images follow.
        if before?.fetchedAt == nil {
            guard try await store.storeFeed(userID: userID, media: FeedDocument.encode(media), now: Date(), releasingClaim: false) else {
                try await store.recordFeedFailure(userID: userID, error: gone, now: Date())
                return .inactive(gone)
            }
        }
        let earlier = MediaCopier.localNames(previous, baseURL: copier.baseURL)
        let copied = await copier.copy(media, userID: userID, earlier: earlier, until: now + Self.copyingTime)
        guard try await store.storeFeed(userID: userID, media: FeedDocument.encode(copied.items), now: Date(), releasingClaim: true) else {
            // Gone meanwhile: what this fetch copied goes (a deauthorization or a deletion removed the rest).
            settings.media.remove(copied.names.subtracting(earlier.values))
            try await store.recordFeedFailure(userID: userID, error: gone, now: Date())
            return .inactive(gone)
        }
        // Copies no longer in the feed leave with their posts.
        settings.media.remove(copiesOf: userID, keeping: copied.names)
        if before?.fetchedAt == nil || copier.substance(of: previous) != copier.substance(of: copied.items) {
            hook.run(.feedChanged, userID: userID, username: account.username)
        }
        logger.info("feed fetched", metadata: ["account": "\(account.displayName)", "items": "\(media.count)"])
        return .fetched(items: media.count)
    }
}
