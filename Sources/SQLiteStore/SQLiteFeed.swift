import Accounts
import Foundation
import GRDB

/// Each account's cached media feed.
extension SQLiteAccountStore {
    public func feedOwners() async throws(StoreError) -> [FeedOwner] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT user_id, username, status FROM account ORDER BY username COLLATE NOCASE, user_id").map {
                FeedOwner(userID: $0["user_id"], username: $0["username"], status: Account.Status(rawValue: $0["status"]) ?? .needsAuthorization)
            }
        }
    }

    public func feed(userID: String) async throws(StoreError) -> StoredFeed? {
        try await read { db in
            try Row.fetchOne(db, sql: AccountSQL.sqlite(AccountSQL.selectFeed), arguments: [userID]).map {
                StoredFeed(
                    userID: $0["user_id"], media: $0["media"], fetchedAt: ($0["fetched_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    attemptedAt: ($0["attempted_at"] as Double?).map(Date.init(timeIntervalSince1970:)), failure: $0["failure"],
                    claimedAt: ($0["claimed_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    public func claimFeedFetch(userID: String, now: Date) async throws(StoreError) -> Bool {
        let time = now.timeIntervalSince1970
        return try await write { db in
            try db.execute(sql: AccountSQL.sqlite(AccountSQL.claimFeed), arguments: [userID, time, time - AccountSQL.staleFeedClaim])
            return db.changesCount == 1
        }
    }

    public func storeFeed(userID: String, media: String, now: Date, releasingClaim: Bool) async throws(StoreError) -> Bool {
        try await write { db in
            try db.execute(sql: AccountSQL.sqlite(AccountSQL.storeFeed), arguments: [userID, media, now.timeIntervalSince1970, releasingClaim])
            return db.changesCount == 1
        }
    }

    public func recordFeedFailure(userID: String, error: String, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: AccountSQL.sqlite(AccountSQL.recordFeedFailure), arguments: [userID, error, now.timeIntervalSince1970])
        }
    }
}
