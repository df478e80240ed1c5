import Accounts
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Accounts in a SQLite file: created 0600, WAL, versioned migrations, immediate write transactions (GRDB's pool default)
/// and a busy timeout so several responder processes and `refresh` can write at once.
public final class SQLiteAccountStore: AccountStore {
    private let pool: DatabasePool
    public let path: String
    /// Encrypts tokens at rest, when a key is set.
    let sealer: TokenSealer?

    public init(path: String, sealer: TokenSealer? = nil) throws(StoreError) {
        self.path = path
        self.sealer = sealer
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            throw StoreError("the folder \(folder) does not exist")
        }
        if !FileManager.default.fileExists(atPath: path) {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if fd < 0, errno != EEXIST {
                throw StoreError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            if fd >= 0 { Glibc.close(fd) }
        }
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(15)
        configuration.label = "instagram-auth"
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw StoreError("cannot open the database \(path): \(error)")
        }
    }

    /// The schema, one migration per version; applied in order, each once.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: accounts and callbacks") { db in
            for statement in Schema.accountsAndCallbacks(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v2: callback age index") { db in
            for statement in Schema.callbackAgeIndex { try db.execute(sql: statement) }
        }
        // Outcomes kept as a page's words become what happened (`CallbackOutcome.fromPageWording`).
        migrator.registerMigration("v3: callback outcomes as meaning") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT code_hash, outcome FROM callback WHERE outcome IS NOT NULL")
            for row in rows {
                guard let outcome = CallbackOutcome.fromPageWording(row["outcome"]) else { continue }
                try db.execute(
                    sql: "UPDATE callback SET outcome = ? WHERE code_hash = ?", arguments: [try outcome.storedForm(), row["code_hash"] as String])
            }
        }
        migrator.registerMigration("v4: deletions") { db in
            for statement in Schema.deletions(.sqlite) { try db.execute(sql: statement) }
            let rows = try Row.fetchAll(db, sql: "SELECT code_hash, outcome FROM callback WHERE outcome IS NOT NULL")
            for row in rows {
                guard let userID = (try? Self.outcome(row["outcome"]))??.userID else { continue }
                try db.execute(sql: "UPDATE callback SET user_id = ? WHERE code_hash = ?", arguments: [userID, row["code_hash"] as String])
            }
        }
        migrator.registerMigration("v5: a state used once") { db in
            for statement in Schema.stateNonces { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v6: feeds") { db in
            for statement in Schema.feeds(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v7: store check") { db in
            for statement in Schema.storeCheck(.sqlite) { try db.execute(sql: statement) }
        }
        return migrator
    }

    /// Nothing to let go of: the file closes with the last reference to the store.
    public func close() async {}

    /// The migrations applied to the file, for `check` and tests.
    public func appliedMigrations() async throws(StoreError) -> [String] {
        try await read { db in try Array(Self.migrator.appliedIdentifiers(db)).sorted() }
    }

    /// Writes the check row: proves the file, its journal and its folder take writes now.
    public func checkWritable() async throws(StoreError) {
        let now = Date().timeIntervalSince1970
        try await write { db in try db.execute(sql: AccountSQL.sqlite(AccountSQL.storeCheck), arguments: [now]) }
    }

    public func integrityCheck() async throws(StoreError) -> String {
        try await read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    // MARK: - Accounts

    public func save(_ account: Account) async throws(StoreError) {
        let account = try sealer.sealed(account)
        try await write { db in try Self.save(account, in: db) }
    }

    static func save(_ account: Account, in db: Database) throws {
            try db.execute(
                sql: "INSERT INTO account (\(AccountSQL.insertColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?) "
                    + AccountSQL.onConflict,
                arguments: [
                    account.userID, account.username, account.accountType, account.accessToken, account.isLongLived,
                    account.tokenObtainedAt.timeIntervalSince1970, account.tokenExpiresAt.timeIntervalSince1970,
                    account.permissions.joined(separator: ","), account.status.rawValue, account.statusDetail,
                    account.lastRefreshAt?.timeIntervalSince1970, account.lastRefreshError,
                    account.connectedAt.timeIntervalSince1970, Date().timeIntervalSince1970,
                ])
    }

    public func accounts() async throws(StoreError) -> [Account] {
        let rows = try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM account ORDER BY username COLLATE NOCASE, user_id").map(Self.account)
        }
        var accounts: [Account] = []
        for account in rows { accounts.append(try sealer.opened(account)) }
        return accounts
    }

    public func account(_ who: String) async throws(StoreError) -> Account? {
        let name = who.hasPrefix("@") ? String(who.dropFirst()) : who
        let found = try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM account WHERE user_id = ? OR username = ? COLLATE NOCASE ORDER BY user_id = ? DESC LIMIT 1",
                arguments: [name, name, name]
            ).map(Self.account)
        }
        guard let found else { return nil }
        return try sealer.opened(found)
    }

    public func claimRefresh(userID: String, token: String, now: Date) async throws(StoreError) -> Bool {
        let forms = try sealer.storedForms(token, userID: userID)
        return try await write { db in
            try db.execute(
                sql: """
                    UPDATE account SET refresh_claimed_at = ?
                    WHERE user_id = ? AND access_token IN (?, ?) AND (refresh_claimed_at IS NULL OR refresh_claimed_at < ?)
                    """,
                arguments: [now.timeIntervalSince1970, userID, forms[0], forms[1], now.timeIntervalSince1970 - AccountSQL.staleRefreshClaim])
            return db.changesCount == 1
        }
    }

    public func storeRefreshed(
        userID: String, previousToken: String, token: String, isLongLived: Bool, expiresAt: Date, now: Date
    ) async throws(StoreError) {
        let stored = try sealer.stored(token, userID: userID)
        let previous = try sealer.storedForms(previousToken, userID: userID)
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE account SET access_token = ?, long_lived = ?, token_obtained_at = ?, token_expires_at = ?,
                        last_refresh_at = ?, last_refresh_error = NULL, refresh_claimed_at = NULL, status = 'active',
                        status_detail = NULL, updated_at = ?
                    WHERE user_id = ? AND access_token IN (?, ?)
                    """,
                arguments: [
                    stored, isLongLived, now.timeIntervalSince1970, expiresAt.timeIntervalSince1970, now.timeIntervalSince1970,
                    now.timeIntervalSince1970, userID, previous[0], previous[1],
                ])
        }
    }

    public func recordRefreshFailure(userID: String, token: String, error: String, needsAuthorization: Bool, now: Date) async throws(StoreError) {
        let forms = try sealer.storedForms(token, userID: userID)
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE account SET last_refresh_error = ?, refresh_claimed_at = NULL, updated_at = ?,
                        status = CASE WHEN ? THEN 'needs_authorization' ELSE status END,
                        status_detail = CASE WHEN ? THEN ? ELSE status_detail END
                    WHERE user_id = ? AND access_token IN (?, ?)
                    """,
                arguments: [error, now.timeIntervalSince1970, needsAuthorization, needsAuthorization, error, userID, forms[0], forms[1]])
        }
    }

    static func account(_ row: Row) -> Account {
        let permissions: String = row["permissions"]
        return Account(
            userID: row["user_id"], username: row["username"], accountType: row["account_type"],
            accessToken: row["access_token"], isLongLived: row["long_lived"],
            tokenObtainedAt: Date(timeIntervalSince1970: row["token_obtained_at"]),
            tokenExpiresAt: Date(timeIntervalSince1970: row["token_expires_at"]),
            permissions: permissions.split(separator: ",").map(String.init),
            status: Account.Status(rawValue: row["status"]) ?? .needsAuthorization, statusDetail: row["status_detail"],
            lastRefreshAt: (row["last_refresh_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            lastRefreshError: row["last_refresh_error"],
            connectedAt: Date(timeIntervalSince1970: row["connected_at"]))
    }

    // MARK: - Callbacks

    public func claimCallback(codeHash: String, stateNonce: String?, browserTag: String, now: Date) async throws(StoreError) -> CallbackClaim {
        let ticket = Base64URL.encode(RandomBytes.make(18))
        return try await write { db in
            try db.execute(
                sql: "DELETE FROM callback WHERE created_at < ?", arguments: [now.timeIntervalSince1970 - AccountSQL.callbackRetention])
            try db.execute(
                sql: AccountSQL.pruneCallbacksBeyondCap.replacingOccurrences(of: "$1", with: "?"),
                arguments: [now.timeIntervalSince1970 - AccountSQL.callbackProtection])
            try db.execute(
                sql: "INSERT INTO callback (code_hash, ticket, browser_tag, state_nonce, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [codeHash, ticket, browserTag, stateNonce, now.timeIntervalSince1970])
            if db.changesCount == 1 { return .claimed(ticket: ticket) }
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM callback WHERE code_hash = ?", arguments: [codeHash]) else {
                // Not this code: its state came with another one.
                return .stateUsed
            }
            return .existing(try Self.callback(row))
        }
    }

    public func completeCallback(codeHash: String, outcome: CallbackOutcome, saving account: Account?, now: Date) async throws(StoreError) {
        let json = try outcome.storedForm()
        let account = try account.map { (account) throws(StoreError) in try sealer.sealed(account) }
        try await write { db in
            if let account { try Self.save(account, in: db) }
            try db.execute(
                sql: "UPDATE callback SET outcome = ?, user_id = ?, finished_at = ? WHERE code_hash = ?",
                arguments: [json, outcome.userID, now.timeIntervalSince1970, codeHash])
        }
    }

    public func releaseCallback(codeHash: String, ticket: String?) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM callback WHERE code_hash = ? AND outcome IS NULL AND (? IS NULL OR ticket = ?)",
                arguments: [codeHash, ticket, ticket])
        }
    }

    public func callback(ticket: String) async throws(StoreError) -> CallbackRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM callback WHERE ticket = ?", arguments: [ticket]).map(Self.callback)
        }
    }

    public func callback(codeHash: String) async throws(StoreError) -> CallbackRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM callback WHERE code_hash = ?", arguments: [codeHash]).map(Self.callback)
        }
    }

    static func callback(_ row: Row) throws -> CallbackRecord {
        CallbackRecord(
            ticket: row["ticket"], browserTag: row["browser_tag"], outcome: try outcome(row["outcome"]),
            createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    static func outcome(_ text: String?) throws -> CallbackOutcome? {
        try text.map { try JSONDecoder().decode(CallbackOutcome.self, from: Data($0.utf8)) }
    }

    // MARK: - Access

    /// Reads on the calling thread: a read in WAL mode never waits for a writer, and is over in microseconds,
    /// so hopping to GRDB's reader queue and back would cost more than the read.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try readNow(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("reading \(path) failed: \(error)")
        }
    }

    private func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("writing \(path) failed: \(error)")
        }
    }
}
