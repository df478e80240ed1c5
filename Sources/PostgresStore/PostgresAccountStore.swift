import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// Accounts in PostgreSQL, for several hosts sharing one store: the same schema, migrations and
/// behaviour as `SQLiteAccountStore`, with row-level atomicity where several hosts may race (a code
/// claimed once, a refresh claimed once) and migrations serialized by an advisory lock.
public final class PostgresAccountStore: AccountStore {
    public let location: PostgresLocation
    let client: PostgresClient
    let running: Task<Void, Never>
    let logger: Logger
    /// Encrypts tokens at rest, when a key is set.
    let sealer: TokenSealer?
    /// For the connections outside the pool: the migrations', and the check of a server that keeps a call waiting.
    let connectionConfiguration: PostgresConnection.Configuration

    /// Serializes migrations across hosts (an arbitrary, fixed advisory-lock key).
    static let migrationLock: Int64 = 0x1A57_A11_7A17

    /// A store on `location` that connects and migrates on its first use (`prepare` does it now).
    public init(
        unprepared location: PostgresLocation, sealer: TokenSealer? = nil, logger: Logger = Logger(label: "instagram-auth.postgres")
    ) throws(StoreError) {
        self.location = location
        self.sealer = sealer
        self.logger = logger
        let tls: TLSConfiguration?
        let connectionTLS: PostgresConnection.Configuration.TLS
        do {
            tls = location.tls()
            connectionTLS = try tls.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
        } catch {
            throw StoreError("cannot set up TLS for PostgreSQL: \(error)")
        }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls.map { .require($0) } ?? .disable)
        var direct = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: connectionTLS)
        direct.options.connectTimeout = .seconds(Int64(Self.callTimeout))
        connectionConfiguration = direct
        configuration.options.connectTimeout = .seconds(Int64(Self.callTimeout))
        // The pool logs each failed connection attempt at info: while the server is down, that is a line
        // every few seconds the page's own errors already cover.
        var background = logger
        background.logLevel = max(logger.logLevel, .notice)
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        running = Task { await client.run() }
    }

    /// Connects and migrates now, giving up after `openTimeout`.
    public convenience init(
        _ location: PostgresLocation, sealer: TokenSealer? = nil, logger: Logger = Logger(label: "instagram-auth.postgres")
    ) async throws(StoreError) {
        try self.init(unprepared: location, sealer: sealer, logger: logger)
        do {
            try await prepare()
        } catch {
            await close()
            throw error
        }
    }

    /// Connects and applies the migrations still missing, giving up after `openTimeout`. Every call does this
    /// first until it succeeds once, so a store opened while the server was down starts working when it is back.
    public func prepare() async throws(StoreError) {
        guard !migrated.load(ordering: .acquiring) else { return }
        try await Self.within(seconds: Self.openTimeout, location: location) { [self] in try await migrate() }
    }

    /// How long opening the store (connecting and migrating) may take.
    package static let openTimeout = 10
    /// How long one call may take, waiting for a connection included: a database that is down gets the
    /// page's error rather than holding the visitor until nginx gives up.
    package static let callTimeout = 5
    /// A call still waiting after this long checks the server with a connection of its own. The pool
    /// keeps a caller waiting while it retries a server that refuses; the check fails the call at once,
    /// with the reason (Connection refused, a wrong password), instead of at `callTimeout`.
    static let checkAfter: Duration = .seconds(1)

    let migrated = Atomic<Bool>(false)

    /// Runs `body`, giving up after `seconds` (without waiting for `body` to notice it was cancelled).
    /// If `body` is still running after `checkAfter`, `check` runs beside it: when `check` fails, so
    /// does the call, with `check`'s error.
    static func within<T: Sendable>(
        seconds: Int, location: PostgresLocation, check: (@Sendable () async throws -> Void)? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws(StoreError) -> T {
        let race = Race<T>()
        let work = Task {
            do {
                race.finish(.success(try await body()))
            } catch {
                race.finish(.failure(storeError(error, at: location)))
            }
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            race.finish(.failure(StoreError("PostgreSQL at \(location.display) did not answer within \(seconds) s", unreachable: true)))
            work.cancel()
        }
        let checker = check.map { check in
            Task {
                guard (try? await Task.sleep(for: checkAfter)) != nil, !race.isFinished else { return }
                do {
                    try await check()
                } catch {
                    race.finish(.failure(storeError(error, at: location)))
                    work.cancel()
                }
            }
        }
        let outcome = await withTaskCancellationHandler {
            await race.outcome()
        } onCancel: {
            work.cancel()
        }
        timer.cancel()
        checker?.cancel()
        return try outcome.get()
    }

    /// Closes every connection.
    public func close() async {
        running.cancel()
        _ = await running.result
    }

    deinit { running.cancel() }

    // MARK: - Accounts

    public func save(_ account: Account) async throws(StoreError) {
        let account = try sealer.sealed(account)
        try await transaction { connection in try await self.save(account, on: connection) }
    }

    func save(_ account: Account, on connection: PostgresConnection) async throws {
        let permissions = account.permissions.joined(separator: ",")
        let now = Date().timeIntervalSince1970
        var query = PostgresQuery(
            unsafeSQL: "INSERT INTO account (\(AccountSQL.insertColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13, $14) "
                + AccountSQL.onConflict)
        query.binds.append(account.userID)
        query.binds.append(account.username)
        query.binds.append(account.accountType)
        query.binds.append(account.accessToken)
        query.binds.append(account.isLongLived)
        query.binds.append(account.tokenObtainedAt.timeIntervalSince1970)
        query.binds.append(account.tokenExpiresAt.timeIntervalSince1970)
        query.binds.append(permissions)
        query.binds.append(account.status.rawValue)
        query.binds.append(account.statusDetail)
        query.binds.append(account.lastRefreshAt?.timeIntervalSince1970)
        query.binds.append(account.lastRefreshError)
        query.binds.append(account.connectedAt.timeIntervalSince1970)
        query.binds.append(now)
        try await connection.query(query,
            logger: logger)
    }

    static let accountColumns = """
        user_id, username, account_type, access_token, long_lived, token_obtained_at, token_expires_at, permissions,
        status, status_detail, last_refresh_at, last_refresh_error, connected_at
        """

    public func accounts() async throws(StoreError) -> [Account] {
        let rows = try await run { client in
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.accountColumns) FROM account ORDER BY lower(username), user_id"), logger: self.logger)
            var accounts: [Account] = []
            for try await row in rows { accounts.append(try Self.account(row)) }
            return accounts
        }
        var accounts: [Account] = []
        for account in rows { accounts.append(try sealer.opened(account)) }
        return accounts
    }

    public func account(_ who: String) async throws(StoreError) -> Account? {
        let name = who.hasPrefix("@") ? String(who.dropFirst()) : who
        let found: Account? = try await run { client in
            var query = PostgresQuery(
                unsafeSQL: "SELECT \(Self.accountColumns) FROM account WHERE user_id = $1 OR lower(username) = lower($1) ORDER BY user_id = $1 DESC LIMIT 1")
            query.binds.append(name)
            for try await row in try await client.query(query, logger: self.logger) { return try Self.account(row) }
            return nil
        }
        guard let found else { return nil }
        return try sealer.opened(found)
    }

    public func claimRefresh(userID: String, token: String, now: Date) async throws(StoreError) -> Bool {
        let stale = now.timeIntervalSince1970 - AccountSQL.staleRefreshClaim
        let forms = try sealer.storedForms(token, userID: userID)
        return try await run { client in
            let rows = try await client.query(
                """
                UPDATE account SET refresh_claimed_at = \(now.timeIntervalSince1970)
                WHERE user_id = \(userID) AND access_token IN (\(forms[0]), \(forms[1])) AND (refresh_claimed_at IS NULL OR refresh_claimed_at < \(stale))
                RETURNING user_id
                """, logger: self.logger)
            return try await Self.count(rows) == 1
        }
    }

    public func storeRefreshed(
        userID: String, previousToken: String, token: String, isLongLived: Bool, expiresAt: Date, now: Date
    ) async throws(StoreError) {
        let at = now.timeIntervalSince1970
        let stored = try sealer.stored(token, userID: userID)
        let previous = try sealer.storedForms(previousToken, userID: userID)
        try await run { client in
            try await client.query(
                """
                UPDATE account SET access_token = \(stored), long_lived = \(isLongLived), token_obtained_at = \(at),
                    token_expires_at = \(expiresAt.timeIntervalSince1970), last_refresh_at = \(at), last_refresh_error = NULL,
                    refresh_claimed_at = NULL, status = 'active', status_detail = NULL, updated_at = \(at)
                WHERE user_id = \(userID) AND access_token IN (\(previous[0]), \(previous[1]))
                """, logger: self.logger)
        }
    }

    public func recordRefreshFailure(userID: String, token: String, error: String, needsAuthorization: Bool, now: Date) async throws(StoreError) {
        let forms = try sealer.storedForms(token, userID: userID)
        try await run { client in
            try await client.query(
                """
                UPDATE account SET last_refresh_error = \(error), refresh_claimed_at = NULL, updated_at = \(now.timeIntervalSince1970),
                    status = CASE WHEN \(needsAuthorization) THEN 'needs_authorization' ELSE status END,
                    status_detail = CASE WHEN \(needsAuthorization) THEN \(error) ELSE status_detail END
                WHERE user_id = \(userID) AND access_token IN (\(forms[0]), \(forms[1]))
                """, logger: self.logger)
        }
    }

    static func account(_ row: PostgresRow) throws -> Account {
        let columns = row.makeRandomAccess()
        let permissions = try columns["permissions"].decode(String.self)
        return Account(
            userID: try columns["user_id"].decode(String.self), username: try columns["username"].decode(String?.self),
            accountType: try columns["account_type"].decode(String?.self), accessToken: try columns["access_token"].decode(String.self),
            isLongLived: try columns["long_lived"].decode(Bool.self),
            tokenObtainedAt: Date(timeIntervalSince1970: try columns["token_obtained_at"].decode(Double.self)),
            tokenExpiresAt: Date(timeIntervalSince1970: try columns["token_expires_at"].decode(Double.self)),
            permissions: permissions.split(separator: ",").map(String.init),
            status: Account.Status(rawValue: try columns["status"].decode(String.self)) ?? .needsAuthorization,
            statusDetail: try columns["status_detail"].decode(String?.self),
            lastRefreshAt: try columns["last_refresh_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            lastRefreshError: try columns["last_refresh_error"].decode(String?.self),
            connectedAt: Date(timeIntervalSince1970: try columns["connected_at"].decode(Double.self)))
    }

    // MARK: - Callbacks

    public func claimCallback(codeHash: String, stateNonce: String?, browserTag: String, now: Date) async throws(StoreError) -> CallbackClaim {
        let ticket = Base64URL.encode(RandomBytes.make(18))
        let expired = now.timeIntervalSince1970 - AccountSQL.callbackRetention
        return try await transaction { connection in
            try await connection.query("DELETE FROM callback WHERE created_at < \(expired)", logger: self.logger)
            var prune = PostgresQuery(unsafeSQL: AccountSQL.pruneCallbacksBeyondCap)
            prune.binds.append(now.timeIntervalSince1970 - AccountSQL.callbackProtection)
            try await connection.query(prune, logger: self.logger)
            let inserted = try await connection.query(
                """
                INSERT INTO callback (code_hash, ticket, browser_tag, state_nonce, created_at)
                VALUES (\(codeHash), \(ticket), \(browserTag), \(stateNonce), \(now.timeIntervalSince1970))
                ON CONFLICT DO NOTHING RETURNING ticket
                """, logger: self.logger)
            for try await _ in inserted { return .claimed(ticket: ticket) }
            guard let record = try await self.callback(where: .codeHash, is: codeHash, on: connection) else {
                // Not this code: its state came with another one.
                return .stateUsed
            }
            return .existing(record)
        }
    }

    public func completeCallback(codeHash: String, outcome: CallbackOutcome, saving account: Account?, now: Date) async throws(StoreError) {
        let json = try outcome.storedForm()
        let account = try account.map { (account) throws(StoreError) in try sealer.sealed(account) }
        try await transaction { connection in
            if let account { try await self.save(account, on: connection) }
            try await connection.query(
                """
                UPDATE callback SET outcome = \(json), user_id = \(outcome.userID), finished_at = \(now.timeIntervalSince1970)
                WHERE code_hash = \(codeHash)
                """,
                logger: self.logger)
        }
    }

    public func releaseCallback(codeHash: String, ticket: String?) async throws(StoreError) {
        try await run { client in
            try await client.query(
                """
                DELETE FROM callback WHERE code_hash = \(codeHash) AND outcome IS NULL
                    AND (\(ticket)::TEXT IS NULL OR ticket = \(ticket))
                """, logger: self.logger)
        }
    }

    public func callback(ticket: String) async throws(StoreError) -> CallbackRecord? {
        try await run { client in try await client.withConnection { try await self.callback(where: .ticket, is: ticket, on: $0) } }
    }

    public func callback(codeHash: String) async throws(StoreError) -> CallbackRecord? {
        try await run { client in try await client.withConnection { try await self.callback(where: .codeHash, is: codeHash, on: $0) } }
    }

    /// The columns a callback is found by.
    private enum CallbackKey: String {
        case ticket
        case codeHash = "code_hash"
    }

    private func callback(where key: CallbackKey, is value: String, on connection: PostgresConnection) async throws -> CallbackRecord? {
        var query = PostgresQuery(
            unsafeSQL: "SELECT ticket, browser_tag, outcome, created_at FROM callback WHERE \(key.rawValue) = $1")
        query.binds.append(value)
        for try await (ticket, tag, outcome, created) in try await connection.query(query, logger: logger).decode((String, String, String?, Double).self) {
            return CallbackRecord(
                ticket: ticket, browserTag: tag,
                outcome: try outcome.map { try JSONDecoder().decode(CallbackOutcome.self, from: Data($0.utf8)) },
                createdAt: Date(timeIntervalSince1970: created))
        }
        return nil
    }
}
