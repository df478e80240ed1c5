import Accounts
import Foundation
import PostgresNIO

/// An account's end: deauthorized on Instagram, or everything about it deleted.
extension PostgresAccountStore {
    public func deauthorize(userID: String, now: Date) async throws(StoreError) -> Bool {
        try await run { client in
            let rows = try await client.query(
                """
                UPDATE account SET access_token = '', status = 'deauthorized', status_detail = NULL, refresh_claimed_at = NULL,
                    updated_at = \(now.timeIntervalSince1970)
                WHERE user_id = \(userID) RETURNING user_id
                """, logger: self.logger)
            var changed = 0
            for try await _ in rows { changed += 1 }
            return changed == 1
        }
    }

    public func deleteEverything(about userID: String, requestKey: String, now: Date) async throws(StoreError) -> DeletionRecord {
        let expired = now.timeIntervalSince1970 - AccountSQL.deletionRetention
        return try await transaction { connection in
            let accountDeleted = try await Self.count(
                try await connection.query("DELETE FROM account WHERE user_id = \(userID) RETURNING user_id", logger: self.logger)) > 0
            let callbacksDeleted = try await Self.count(
                try await connection.query("DELETE FROM callback WHERE user_id = \(userID) RETURNING code_hash", logger: self.logger))
            // Two hosts answering the same request at once: the lock makes the second find the first's record.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(requestKey)))", logger: self.logger)
            if let first = try await self.deletion(where: .requestKey, is: requestKey, on: connection) { return first }
            try await connection.query("DELETE FROM deletion WHERE requested_at < \(expired)", logger: self.logger)
            let record = DeletionRecord(
                confirmationCode: DeletionRecord.newConfirmationCode(), requestedAt: Date(timeIntervalSince1970: now.timeIntervalSince1970), accountDeleted: accountDeleted,
                callbacksDeleted: callbacksDeleted)
            try await connection.query(
                """
                INSERT INTO deletion (confirmation_code, request_key, requested_at, account_deleted, callbacks_deleted)
                VALUES (\(record.confirmationCode), \(requestKey), \(now.timeIntervalSince1970), \(accountDeleted), \(callbacksDeleted))
                """, logger: self.logger)
            return record
        }
    }

    public func deletion(confirmationCode: String) async throws(StoreError) -> DeletionRecord? {
        try await run { client in
            try await client.withConnection { try await self.deletion(where: .confirmationCode, is: confirmationCode, on: $0) }
        }
    }

    /// The columns a deletion is found by.
    private enum DeletionKey: String {
        case confirmationCode = "confirmation_code"
        case requestKey = "request_key"
    }

    private func deletion(where key: DeletionKey, is value: String, on connection: PostgresConnection) async throws -> DeletionRecord? {
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT confirmation_code, requested_at, account_deleted, callbacks_deleted FROM deletion WHERE \(key.rawValue) = $1
                """)
        query.binds.append(value)
        let rows = try await connection.query(query, logger: logger).decode((String, Double, Bool, Int).self)
        for try await (code, requestedAt, accountDeleted, callbacksDeleted) in rows {
            return DeletionRecord(
                confirmationCode: code, requestedAt: Date(timeIntervalSince1970: requestedAt), accountDeleted: accountDeleted,
                callbacksDeleted: callbacksDeleted)
        }
        return nil
    }

    private static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}
