import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The schema, one migration per version, applied under an advisory lock so hosts starting together migrate once.
extension PostgresAccountStore {
    static let migrations: [(identifier: String, sql: [PostgresQuery])] = [
        ("v1: accounts and callbacks", Schema.accountsAndCallbacks(.postgres).map { PostgresQuery(unsafeSQL: $0) }),
        ("v2: callback age index", Schema.callbackAgeIndex.map { PostgresQuery(unsafeSQL: $0) }),
        // The outcome rewritten by `rewriteOutcomes` (no SQL of its own).
        (PostgresAccountStore.outcomesAsMeaning, []),
        // The callbacks' user ids filled in by `fillCallbackUserIDs`.
        (PostgresAccountStore.deletions, Schema.deletions(.postgres).map { PostgresQuery(unsafeSQL: $0) }),
        ("v5: a state used once", Schema.stateNonces.map { PostgresQuery(unsafeSQL: $0) }),
        ("v6: feeds", Schema.feeds(.postgres).map { PostgresQuery(unsafeSQL: $0) }),
        ("v7: store check", Schema.storeCheck(.postgres).map { PostgresQuery(unsafeSQL: $0) }),
    ]

    static let deletions = "v4: deletions"

    /// Migration v4: the account each kept callback names, read from its outcome.
    func fillCallbackUserIDs(on connection: PostgresConnection) async throws {
        var named: [(String, String)] = []
        let rows = try await connection.query("SELECT code_hash, outcome FROM callback WHERE outcome IS NOT NULL", logger: logger)
        for try await (codeHash, text) in rows.decode((String, String).self) {
            let outcome = try? JSONDecoder().decode(CallbackOutcome.self, from: Data(text.utf8))
            if let userID = outcome?.userID { named.append((codeHash, userID)) }
        }
        for (codeHash, userID) in named {
            try await connection.query("UPDATE callback SET user_id = \(userID) WHERE code_hash = \(codeHash)", logger: logger)
        }
    }

    static let outcomesAsMeaning = "v3: callback outcomes as meaning"

    /// Migration v3: outcomes kept as a page's words become what happened (`CallbackOutcome.fromPageWording`).
    func rewriteOutcomes(on connection: PostgresConnection) async throws {
        var rewritten: [(String, String)] = []
        let rows = try await connection.query("SELECT code_hash, outcome FROM callback WHERE outcome IS NOT NULL", logger: logger)
        for try await (codeHash, text) in rows.decode((String, String).self) {
            if let outcome = CallbackOutcome.fromPageWording(text) { rewritten.append((codeHash, try outcome.storedForm())) }
        }
        for (codeHash, json) in rewritten {
            try await connection.query("UPDATE callback SET outcome = \(json) WHERE code_hash = \(codeHash)", logger: logger)
        }
    }

    /// Applies the missing migrations over a connection of its own, outside the pool: a server that refuses
    /// (a wrong password, no such database) or is not there says so at once, where the pool would keep retrying.
    func migrate() async throws {
        try await onOwnConnection { try await self.migrate(on: $0) }
        migrated.store(true, ordering: .releasing)
    }

    /// Runs `body` on a connection of its own, outside the pool, and closes it.
    func onOwnConnection(_ body: (PostgresConnection) async throws -> Void) async throws {
        let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 0, logger: logger)
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    func migrate(on connection: PostgresConnection) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: self.logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS instagram_auth_migrations (identifier TEXT PRIMARY KEY NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
                logger: self.logger)
            var applied: Set<String> = []
            for try await identifier in try await connection.query("SELECT identifier FROM instagram_auth_migrations", logger: self.logger)
                .decode(String.self)
            {
                applied.insert(identifier)
            }
            for migration in Self.migrations where !applied.contains(migration.identifier) {
                for statement in migration.sql { try await connection.query(statement, logger: self.logger) }
                if migration.identifier == Self.outcomesAsMeaning { try await self.rewriteOutcomes(on: connection) }
                if migration.identifier == Self.deletions { try await self.fillCallbackUserIDs(on: connection) }
                try await connection.query(
                    "INSERT INTO instagram_auth_migrations (identifier, applied_at) VALUES (\(migration.identifier), \(Date().timeIntervalSince1970))",
                    logger: self.logger)
            }
        }
    }

    public func checkWritable() async throws(StoreError) {
        let now = Date().timeIntervalSince1970
        try await run { client in try await client.query(Self.query(AccountSQL.storeCheck, now), logger: self.logger) }
    }

    public func appliedMigrations() async throws(StoreError) -> [String] {
        try await run { client in
            var identifiers: [String] = []
            for try await identifier in try await client.query("SELECT identifier FROM instagram_auth_migrations ORDER BY identifier", logger: self.logger)
                .decode(String.self)
            {
                identifiers.append(identifier)
            }
            return identifiers
        }
    }
}
