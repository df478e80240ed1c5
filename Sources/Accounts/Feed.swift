import Foundation

/// An account's cached media feed: the items as JSON (an array of Graph-shaped objects, written by the page's
/// feed code; the store keeps it as text), when it was last fetched, and how the last attempt went.
public struct StoredFeed: Sendable, Equatable {
    public var userID: String
    /// A JSON array; `[]` before the first fetch.
    public var media: String
    /// When the last good copy was fetched; nil until one was.
    public var fetchedAt: Date?
    /// When a fetch last ended, well or not.
    public var attemptedAt: Date?
    /// Why the last fetch failed, when it did; the copy stays.
    public var failure: String?
    /// When the fetch that holds the feed now took it; nil when none does.
    public var claimedAt: Date?

    public init(userID: String, media: String, fetchedAt: Date?, attemptedAt: Date?, failure: String?, claimedAt: Date? = nil) {
        self.userID = userID
        self.media = media
        self.fetchedAt = fetchedAt
        self.attemptedAt = attemptedAt
        self.failure = failure
        self.claimedAt = claimedAt
    }

    /// Whether a fetch is under way at `now` (a claim younger than a stale one): the copy may change soon.
    public func isBeingFetched(at now: Date) -> Bool {
        claimedAt.map { now.timeIntervalSince($0) < AccountSQL.staleFeedClaim } ?? false
    }
}

/// A connected account as the feed sees it: who, and whether its token can fetch. Never the token.
public struct FeedOwner: Sendable, Equatable {
    public var userID: String
    public var username: String?
    public var status: Account.Status

    public init(userID: String, username: String?, status: Account.Status) {
        self.userID = userID
        self.username = username
        self.status = status
    }

    /// `@name` or the user id: how a site owner names the account.
    public var displayName: String { username.map { "@\($0)" } ?? userID }
}

/// The feed's SQL, in both dialects: `$1`… as PostgreSQL writes parameters (SQLite reads them as `?1`…).
extension AccountSQL {
    /// A feed claim older than this was left by a fetch that died: another may take the feed.
    package static let staleFeedClaim: TimeInterval = 300

    /// $1 user id, $2 now, $3 the time before which a claim is stale.
    package static let claimFeed = """
        INSERT INTO feed (user_id, claimed_at) SELECT user_id, $2 FROM account WHERE user_id = $1 AND status = 'active'
        ON CONFLICT (user_id) DO UPDATE SET claimed_at = excluded.claimed_at WHERE feed.claimed_at IS NULL OR feed.claimed_at < $3
        """
    /// $1 user id, $2 the media, $3 now, $4 whether the claim goes.
    package static let storeFeed = """
        INSERT INTO feed (user_id, media, fetched_at, attempted_at) SELECT user_id, $2, $3, $3 FROM account
        WHERE user_id = $1 AND status = 'active'
        ON CONFLICT (user_id) DO UPDATE SET media = excluded.media, fetched_at = excluded.fetched_at,
            attempted_at = excluded.attempted_at, failure = NULL, claimed_at = CASE WHEN $4 THEN NULL ELSE feed.claimed_at END
        """
    /// $1 user id, $2 the failure, $3 now.
    package static let recordFeedFailure = "UPDATE feed SET failure = $2, attempted_at = $3, claimed_at = NULL WHERE user_id = $1"
    package static let selectFeed = "SELECT user_id, media, fetched_at, attempted_at, failure, claimed_at FROM feed WHERE user_id = $1"

    /// $1 now: the write `checkWritable` makes.
    package static let storeCheck = """
        INSERT INTO store_check (id, checked_at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at
        """

    /// `sql` with SQLite's spelling of numbered parameters (these statements have no `$` but their parameters').
    package static func sqlite(_ sql: String) -> String { sql.replacingOccurrences(of: "$", with: "?") }
}
