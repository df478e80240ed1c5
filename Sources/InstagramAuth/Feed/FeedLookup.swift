import Accounts
import Foundation

/// Which account's copy a feed request asks for (`?account=`, `?limit=`), and that copy: fetched first only
/// when there is none yet; an old one is answered at once while a fetch runs in the background.
struct FeedLookup {
    /// What a feed request may be answered with.
    struct Found {
        let owner: FeedOwner
        let feed: StoredFeed
        /// The copy is older than the TTL, or its account cannot fetch a new one.
        let stale: Bool
        let limit: Int?
        /// Seconds a cache may keep the answer.
        let maxAge: Int
    }

    /// Why there is nothing to answer with: a status, an error name, and a sentence for the site's owner.
    struct Problem: Error {
        let status: Int
        let error: String
        let message: String
        /// Seconds after which asking again may help.
        var retryAfter: Int?
    }

    /// The least time between two fetches of one account that visits start: visitors cannot make this
    /// site call Instagram more often, however many they are.
    static let minimumInterval: TimeInterval = 60
    static let maxAccountLength = 64
    /// The most a cache may keep an answer while the copy is being fetched.
    static let whileFetching: TimeInterval = 5

    /// How long the first visitor waits for the first copy: a call to Instagram and a little, and within
    /// the 30 s the shipped nginx examples wait for an answer.
    static func firstCopyWait(httpTimeout: Int) -> TimeInterval {
        TimeInterval(min(httpTimeout + 5, 25))
    }

    let context: HandlerContext
    let backends: Backends
    private var settings: FeedSettings { context.configuration.feed }

    func find(_ query: Query) async -> Result<Found, Problem> {
        let limit: Int?
        switch query["limit"] {
        case nil: limit = nil
        case let text?:
            guard let value = Int(text), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), (1...settings.size).contains(value) else {
                return .failure(Problem(status: 400, error: "invalid_limit", message: "limit must be a whole number from 1 to \(settings.size)"))
            }
            limit = value
        }
        let who = query["account"]
        if let who, who.isEmpty || who.utf8.count > Self.maxAccountLength || !who.utf8.allSatisfy(Self.isNameByte) {
            return .failure(
                Problem(status: 400, error: "invalid_account", message: "account must be an Instagram username (with or without @) or a user id"))
        }
        do {
            let owner: FeedOwner
            switch pick(who, from: try await backends.store.feedOwners()) {
            case .failure(let problem): return .failure(problem)
            case .success(let picked): owner = picked
            }
            return try await copy(of: owner, limit: limit)
        } catch {
            context.logger.error("account store failed", metadata: ["error": "\(error)"])
            return .failure(
                Problem(status: 503, error: "store_unavailable", message: "the account database is not available right now; try again in a minute", retryAfter: 60))
        }
    }

    /// Letters, digits, `.`, `_` and a leading `@`: every username and user id, and nothing that could be a path.
    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "@"):
            true
        default: false
        }
    }

    private func pick(_ who: String?, from owners: [FeedOwner]) -> Result<FeedOwner, Problem> {
        switch Choice(who, among: owners) {
        case .chosen(let owner):
            return .success(owner)
        case .unknown(let who):
            return .failure(Problem(status: 404, error: "unknown_account", message: "no connected Instagram account is named \(who)"))
        case .noneConnected:
            return .failure(
                Problem(
                    status: 404, error: "no_account",
                    message: "no Instagram account is connected to this site yet: open \(context.startURL) and click Authorize"))
        case .several(let owners):
            let names = owners.map(\.displayName).joined(separator: ", ")
            return .failure(
                Problem(status: 400, error: "account_required", message: "\(owners.count) accounts are connected (\(names)): name one with ?account="))
        }
    }

    private func copy(of owner: FeedOwner, limit: Int?) async throws(StoreError) -> Result<Found, Problem> {
        let now = Date()
        let ttl = TimeInterval(settings.ttlSeconds)
        var feed = try await backends.store.feed(userID: owner.userID)
        let active = owner.status == .active
        let attemptedLately = feed?.attemptedAt.map { now.timeIntervalSince($0) < min(Self.minimumInterval, ttl) } ?? false
        if let current = feed, let fetchedAt = current.fetchedAt {
            let stale = settings.isStale(fetchedAt: fetchedAt, now: now)
            if active, stale, !attemptedLately { backends.feeds.start(userID: owner.userID) }
            let fresh = active && !stale
            // Clamped: a host whose clock is ahead may have written a time still to come. While a fetch runs (the
            // posts stored, their images being copied), caches keep the answer only a moment.
            var remaining = min(ttl, max(0, ttl - now.timeIntervalSince(fetchedAt)))
            if current.isBeingFetched(at: now) { remaining = min(remaining, Self.whileFetching) }
            return .success(Found(owner: owner, feed: current, stale: !fresh, limit: limit, maxAge: fresh ? Int(remaining) : 0))
        }
        guard active else {
            return .failure(
                Problem(
                    status: 503, error: "needs_authorization",
                    message: "the account \(owner.displayName) must be connected again before its posts can be shown: open \(context.startURL) and click Authorize"))
        }
        // No copy yet: this visitor waits for the first one, unless a fetch failed a moment ago. A fetch stores the
        // posts before it copies their images, and another process or host may be the one fetching: the store says
        // when the copy is there.
        if !attemptedLately {
            let fetch = backends.feeds.start(userID: owner.userID)
            let deadline = now + Self.firstCopyWait(httpTimeout: context.configuration.httpTimeoutSeconds)
            while true {
                feed = try await backends.store.feed(userID: owner.userID)
                if feed?.fetchedAt != nil || Date() >= deadline { break }
                // Ended here without a copy, and not because another process holds the fetch: nothing will come.
                if !backends.feeds.isRunning(owner.userID), await fetch.value != .busy { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
            if let feed, feed.fetchedAt != nil {
                let maxAge = feed.isBeingFetched(at: Date()) ? Self.whileFetching : ttl
                return .success(Found(owner: owner, feed: feed, stale: false, limit: limit, maxAge: Int(maxAge)))
            }
        }
        return .failure(
            Problem(
                status: 503, error: "feed_unavailable",
                message: "the posts of \(owner.displayName) could not be fetched from Instagram yet; try again in a minute",
                retryAfter: Int(Self.minimumInterval)))
    }
}
