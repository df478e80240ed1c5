import Accounts
import Foundation
import GRDB

/// An account's end: deauthorized on Instagram, or everything about it deleted.
extension SQLiteAccountStore {
    public func deauthorize(userID: String, issuedAt: Date?, now: Date) async throws(StoreError) -> Bool {
        let issued = issuedAt?.timeIntervalSince1970
        return try await write { db in
            try db.execute(
                sql: """
                    UPDATE account SET access_token = '', status = 'deauthorized', status_detail = NULL, refresh_claimed_at = NULL,
                        updated_at = ?
                    WHERE user_id = ? AND (? IS NULL OR token_obtained_at <= ?)
                    """,
                arguments: [now.timeIntervalSince1970, userID, issued, issued])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "DELETE FROM feed WHERE user_id = ?", arguments: [userID])
            return true
        }
    }

    public func sealPlainTokens() async throws(StoreError) -> Int {
        guard let sealer else { return 0 }
        let plain = try await read { db in
            try Row.fetchAll(db, sql: "SELECT user_id, access_token FROM account WHERE \(TokenSealer.plainTokenCondition)")
                .map { ($0["user_id"] as String, $0["access_token"] as String) }
        }
        var sealed = 0
        for (userID, token) in plain {
            let stored = try sealer.seal(token, userID: userID)
            // Only if the token is still that one: a refresh meanwhile wrote its own, sealed.
            sealed += try await write { db in
                try db.execute(
                    sql: "UPDATE account SET access_token = ? WHERE user_id = ? AND access_token = ?", arguments: [stored, userID, token])
                return db.changesCount
            }
        }
        return sealed
    }

    public func deleteEverything(about userID: String, requestKey: String, issuedAt: Date?, now: Date) async throws(StoreError) -> DeletionRecord {
        let issued = issuedAt?.timeIntervalSince1970
        return try await write { db in
            // The same request again (Meta retrying, or a replay): nothing more is deleted, whatever came since.
            if let first = try Row.fetchOne(db, sql: "SELECT * FROM deletion WHERE request_key = ?", arguments: [requestKey]) {
                return Self.deletion(first)
            }
            try db.execute(
                sql: "DELETE FROM account WHERE user_id = ? AND (? IS NULL OR token_obtained_at <= ?)", arguments: [userID, issued, issued])
            let accountDeleted = db.changesCount > 0
            if accountDeleted { try db.execute(sql: "DELETE FROM feed WHERE user_id = ?", arguments: [userID]) }
            try db.execute(sql: "DELETE FROM callback WHERE user_id = ?", arguments: [userID])
            let callbacksDeleted = db.changesCount
            try db.execute(
                sql: "DELETE FROM deletion WHERE requested_at < ?", arguments: [now.timeIntervalSince1970 - AccountSQL.deletionRetention])
            let record = DeletionRecord(
                confirmationCode: DeletionRecord.newConfirmationCode(), requestedAt: Date(timeIntervalSince1970: now.timeIntervalSince1970), accountDeleted: accountDeleted,
                callbacksDeleted: callbacksDeleted)
            try db.execute(
                sql: """
                    INSERT INTO deletion (confirmation_code, request_key, requested_at, account_deleted, callbacks_deleted)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [record.confirmationCode, requestKey, now.timeIntervalSince1970, accountDeleted, callbacksDeleted])
            return record
        }
    }

    public func deletion(confirmationCode: String) async throws(StoreError) -> DeletionRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deletion WHERE confirmation_code = ?", arguments: [confirmationCode]).map(Self.deletion)
        }
    }

    public func recordMediaDeleted(confirmationCode: String, count: Int) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE deletion SET media_deleted = media_deleted + ? WHERE confirmation_code = ?", arguments: [count, confirmationCode])
        }
    }

    static func deletion(_ row: Row) -> DeletionRecord {
        DeletionRecord(
            confirmationCode: row["confirmation_code"], requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
            accountDeleted: row["account_deleted"], callbacksDeleted: row["callbacks_deleted"], mediaDeleted: row["media_deleted"])
    }
}
