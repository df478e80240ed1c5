import Accounts
import Foundation
import PostgresNIO

/// Each account's cached media feed.
extension PostgresAccountStore {
    public func feedOwners() async throws(StoreError) -> [FeedOwner] {
        try await run { client in
            var owners: [FeedOwner] = []
            let rows = try await client.query("SELECT user_id, username, status FROM account ORDER BY lower(username), user_id", logger: self.logger)
            for try await (userID, username, status) in rows.decode((String, String?, String).self) {
                owners.append(FeedOwner(userID: userID, username: username, status: Account.Status(rawValue: status) ?? .needsAuthorization))
            }
            return owners
        }
    }

    public func feed(userID: String) async throws(StoreError) -> StoredFeed? {
        try await run { client in
            let rows = try await client.query(Self.query(AccountSQL.selectFeed, userID), logger: self.logger)
            for try await (userID, media, fetchedAt, attemptedAt, failure, claimedAt) in rows.decode(
                (String, String, Double?, Double?, String?, Double?).self)
            {
                return StoredFeed(
                    userID: userID, media: media, fetchedAt: fetchedAt.map(Date.init(timeIntervalSince1970:)),
                    attemptedAt: attemptedAt.map(Date.init(timeIntervalSince1970:)), failure: failure,
                    claimedAt: claimedAt.map(Date.init(timeIntervalSince1970:)))
            }
            return nil
        }
    }

    public func claimFeedFetch(userID: String, now: Date) async throws(StoreError) -> Bool {
        let time = now.timeIntervalSince1970
        return try await run { client in
            let query = Self.query(AccountSQL.claimFeed + " RETURNING user_id", userID, time, time - AccountSQL.staleFeedClaim)
            return try await Self.count(try await client.query(query, logger: self.logger)) == 1
        }
    }

    public func storeFeed(userID: String, media: String, now: Date, releasingClaim: Bool) async throws(StoreError) -> Bool {
        try await run { client in
            let query = Self.query(AccountSQL.storeFeed + " RETURNING user_id", userID, media, now.timeIntervalSince1970, releasingClaim)
            return try await Self.count(try await client.query(query, logger: self.logger)) == 1
        }
    }

    public func recordFeedFailure(userID: String, error: String, now: Date) async throws(StoreError) {
        try await run { client in
            try await client.query(Self.query(AccountSQL.recordFeedFailure, userID, error, now.timeIntervalSince1970), logger: self.logger)
        }
    }

    /// Shared SQL with its parameters bound in order.
    static func query(_ sql: String, _ binds: any PostgresDynamicTypeEncodable...) -> PostgresQuery {
        var query = PostgresQuery(unsafeSQL: sql)
        for bind in binds { query.binds.append(bind) }
        return query
    }
}
