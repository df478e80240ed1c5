import Foundation
import Logging

/// A connected Instagram account and its token.
public struct Account: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        case active
        /// Instagram rejected the token (code 190) or it expired: the account must authorize again.
        case needsAuthorization = "needs_authorization"
    }

    public var userID: String
    public var username: String?
    public var accountType: String?
    public var accessToken: String
    /// False when the long-lived exchange failed and only the one-hour token is kept; `refresh` retries it.
    public var isLongLived: Bool
    public var tokenObtainedAt: Date
    public var tokenExpiresAt: Date
    public var permissions: [String]
    public var status: Status
    public var statusDetail: String?
    public var lastRefreshAt: Date?
    public var lastRefreshError: String?
    public var connectedAt: Date

    public init(
        userID: String, username: String?, accountType: String? = nil, accessToken: String, isLongLived: Bool,
        tokenObtainedAt: Date, tokenExpiresAt: Date, permissions: [String] = [], status: Status = .active,
        statusDetail: String? = nil, lastRefreshAt: Date? = nil, lastRefreshError: String? = nil, connectedAt: Date
    ) {
        self.userID = userID
        self.username = username
        self.accountType = accountType
        self.accessToken = accessToken
        self.isLongLived = isLongLived
        self.tokenObtainedAt = tokenObtainedAt
        self.tokenExpiresAt = tokenExpiresAt
        self.permissions = permissions
        self.status = status
        self.statusDetail = statusDetail
        self.lastRefreshAt = lastRefreshAt
        self.lastRefreshError = lastRefreshError
        self.connectedAt = connectedAt
    }

    /// `@username (id)`, or the id alone.
    public var displayName: String { username.map { "@\($0) (\(userID))" } ?? userID }
}

/// What became of one authorization code, kept so a reload or a second request with the same code
/// shows the first exchange's result instead of Instagram's "code has been used".
public struct CallbackOutcome: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case connected, refused }
    public var kind: Kind
    public var userID: String?
    public var status: Int
    public var heading: String
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(kind: Kind, userID: String? = nil, status: Int, heading: String, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.userID = userID
        self.status = status
        self.heading = heading
        self.message = message
        self.detail = detail
        self.hint = hint
    }
}

public struct CallbackRecord: Sendable, Equatable {
    public var ticket: String
    public var browserTag: String
    /// Nil while the exchange is still under way.
    public var outcome: CallbackOutcome?
    public var createdAt: Date
}

public enum CallbackClaim: Sendable, Equatable {
    /// This request owns the code: exchange it, then `completeCallback` or `releaseCallback`.
    case claimed(ticket: String)
    /// Another request has (or had) the code.
    case existing(CallbackRecord)
}

/// SQL both stores speak alike.
enum AccountSQL {
    static let insertColumns = """
        user_id, username, account_type, access_token, long_lived, token_obtained_at, token_expires_at, permissions, status,
        status_detail, last_refresh_at, last_refresh_error, refresh_claimed_at, connected_at, updated_at
        """
    /// Saving an account again updates it in place, keeping what is not known now and when it first connected.
    static let onConflict = """
        ON CONFLICT (user_id) DO UPDATE SET
            username = COALESCE(excluded.username, account.username),
            account_type = COALESCE(excluded.account_type, account.account_type),
            access_token = excluded.access_token, long_lived = excluded.long_lived,
            token_obtained_at = excluded.token_obtained_at, token_expires_at = excluded.token_expires_at,
            permissions = excluded.permissions, status = excluded.status, status_detail = excluded.status_detail,
            last_refresh_error = NULL, refresh_claimed_at = NULL, updated_at = excluded.updated_at
        """
}

extension CallbackOutcome {
    /// The JSON text a store keeps.
    func storedForm() throws(StoreError) -> String {
        do {
            return String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
        } catch {
            throw StoreError("cannot encode a callback outcome: \(error)")
        }
    }
}

public struct StoreError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The database did not answer (down, unreachable, too slow): trying again later may work. False when
    /// it answered with a refusal (a wrong password, a missing database, a broken file).
    public let unreachable: Bool
    public init(_ description: String, unreachable: Bool = false) {
        self.description = description
        self.unreachable = unreachable
    }
}

/// Where connected accounts and callback results live: a SQLite file (`SQLiteAccountStore`) or
/// PostgreSQL (`PostgresAccountStore`). The page and the commands see only this protocol.
public protocol AccountStore: Sendable {
    /// The schema migrations applied, in order of their names.
    func appliedMigrations() async throws(StoreError) -> [String]
    /// Takes and releases a write lock: proves the store accepts writes now.
    func checkWritable() async throws(StoreError)
    /// Lets go of the store's connections; the store is not used afterwards.
    func close() async

    /// Inserts the account, or updates it in place (keeping when it first connected).
    func save(_ account: Account) async throws(StoreError)
    func accounts() async throws(StoreError) -> [Account]
    /// By user id, or by username with or without `@`.
    func account(_ who: String) async throws(StoreError) -> Account?

    /// Takes the account for one refresh of `token`; false when another refresh holds it, or the token
    /// is no longer the stored one (another refresh, or a new authorization, came first).
    func claimRefresh(userID: String, token: String, now: Date) async throws(StoreError) -> Bool
    /// Stores a refreshed token, unless the account was authorized again meanwhile (its token is no longer `previousToken`).
    func storeRefreshed(
        userID: String, previousToken: String, token: String, isLongLived: Bool, expiresAt: Date, now: Date
    ) async throws(StoreError)
    /// Records a failed refresh; with `needsAuthorization` the account must authorize again.
    func recordRefreshFailure(userID: String, error: String, needsAuthorization: Bool, now: Date) async throws(StoreError)

    func claimCallback(codeHash: String, browserTag: String, now: Date) async throws(StoreError) -> CallbackClaim
    /// Records the outcome of a claimed callback; with `account`, saves it (as `save`) in the same transaction.
    func completeCallback(codeHash: String, outcome: CallbackOutcome, saving account: Account?, now: Date) async throws(StoreError)
    /// Forgets a claim that has no outcome (only the claim with `ticket`, when given), so a retry may
    /// exchange the code: one whose exchange failed before Instagram answered, or one abandoned by a
    /// request that died.
    func releaseCallback(codeHash: String, ticket: String?) async throws(StoreError)
    func callback(ticket: String) async throws(StoreError) -> CallbackRecord?
    func callback(codeHash: String) async throws(StoreError) -> CallbackRecord?
}

extension AccountStore {
    public func releaseCallback(codeHash: String) async throws(StoreError) {
        try await releaseCallback(codeHash: codeHash, ticket: nil)
    }
}

extension DatabaseLocation {
    /// Opens (creating or migrating as needed) the store here. With `waitingForServer`, a PostgreSQL server
    /// that does not answer yet is no error: the store is returned and connects and migrates on its first
    /// use, so a responder starts (and its authorize page answers) while the database is down; a server that
    /// answers with a refusal (a wrong password, no such database) is still an error.
    public func open(waitingForServer: Bool = false, logger: Logger) async throws(StoreError) -> any AccountStore {
        let location = self
        switch location {
        case .sqlite(let path):
            return try SQLiteAccountStore(path: path)
        case .postgres(let postgres):
            let store = try PostgresAccountStore(unprepared: postgres, logger: logger)
            do {
                try await store.prepare()
            } catch where waitingForServer && error.unreachable {
                logger.warning(
                    "the database does not answer yet; pages that need it fail until it does",
                    metadata: ["database": "\(location)", "error": "\(error)"])
            } catch {
                await store.close()
                throw error
            }
            return store
        }
    }
}
