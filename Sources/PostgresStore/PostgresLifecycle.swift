import Accounts
import Foundation
import PostgresNIO

/// An account's end: deauthorized on Instagram, or everything about it deleted.
extension PostgresAccountStore {
    public func deauthorize(userID: String, issuedAt: Date?, now: Date) async throws(StoreError) -> Bool {
        let issued = issuedAt?.timeIntervalSince1970
        return try await transaction { connection in
            let rows = try await connection.query(
                """
                UPDATE account SET access_token = '', status = 'deauthorized', status_detail = NULL, refresh_claimed_at = NULL,
                    updated_at = \(now.timeIntervalSince1970)
                WHERE user_id = \(userID) AND (\(issued)::DOUBLE PRECISION IS NULL OR token_obtained_at <= \(issued))
                RETURNING user_id
                """, logger: self.logger)
            guard try await Self.count(rows) == 1 else { return false }
            try await connection.query("DELETE FROM feed WHERE user_id = \(userID)", logger: self.logger)
            return true
        }
    }

    public func sealPlainTokens() async throws(StoreError) -> Int {
        guard let sealer else { return 0 }
        let plain = try await run { client in
            var found: [(String, String)] = []
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT user_id, access_token FROM account WHERE \(TokenSealer.plainTokenCondition)"), logger: self.logger)
            for try await (userID, token) in rows.decode((String, String).self) { found.append((userID, token)) }
            return found
        }
        var sealed = 0
        for (userID, token) in plain {
            let stored = try sealer.seal(token, userID: userID)
            // Only if the token is still that one: a refresh meanwhile wrote its own, sealed.
            sealed += try await run { client in
                try await Self.count(
                    try await client.query(
                        "UPDATE account SET access_token = \(stored) WHERE user_id = \(userID) AND access_token = \(token) RETURNING user_id",
                        logger: self.logger))
            }
        }
        return sealed
    }

    public func deleteEverything(about userID: String, requestKey: String, issuedAt: Date?, now: Date) async throws(StoreError) -> DeletionRecord {
        let expired = now.timeIntervalSince1970 - AccountSQL.deletionRetention
        let issued = issuedAt?.timeIntervalSince1970
        return try await transaction { connection in
            // Two hosts answering the same request at once: the lock makes the second find the first's record.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(requestKey)))", logger: self.logger)
            // The same request again (Meta retrying, or a replay): nothing more is deleted, whatever came since.
            if let first = try await self.deletion(where: .requestKey, is: requestKey, on: connection) { return first }
            let accountDeleted = try await Self.count(
                try await connection.query(
                    """
                    DELETE FROM account WHERE user_id = \(userID) AND (\(issued)::DOUBLE PRECISION IS NULL OR token_obtained_at <= \(issued))
                    RETURNING user_id
                    """, logger: self.logger)) > 0
            if accountDeleted { try await connection.query("DELETE FROM feed WHERE user_id = \(userID)", logger: self.logger) }
            let callbacksDeleted = try await Self.count(
                try await connection.query("DELETE FROM callback WHERE user_id = \(userID) RETURNING code_hash", logger: self.logger))
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

    public func recordMediaDeleted(confirmationCode: String, count: Int) async throws(StoreError) {
        try await run { client in
            try await client.query(
                "UPDATE deletion SET media_deleted = media_deleted + \(count) WHERE confirmation_code = \(confirmationCode)", logger: self.logger)
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
                SELECT confirmation_code, requested_at, account_deleted, callbacks_deleted, media_deleted FROM deletion
                WHERE \(key.rawValue) = $1
                """)
        query.binds.append(value)
        let rows = try await connection.query(query, logger: logger).decode((String, Double, Bool, Int, Int).self)
        for try await (code, requestedAt, accountDeleted, callbacksDeleted, mediaDeleted) in rows {
            return DeletionRecord(
                confirmationCode: code, requestedAt: Date(timeIntervalSince1970: requestedAt), accountDeleted: accountDeleted,
                callbacksDeleted: callbacksDeleted, mediaDeleted: mediaDeleted)
        }
        return nil
    }
}
