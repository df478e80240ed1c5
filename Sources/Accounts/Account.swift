import Foundation

/// A connected Instagram account and its token.
public struct Account: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        case active
        /// Instagram rejected the token (code 190) or it expired: the account must authorize again.
        case needsAuthorization = "needs_authorization"
        /// The owner removed the app on Instagram (Meta's deauthorize callback): the token was discarded.
        case deauthorized
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

extension Account {
    /// Why the token cannot be used, in the words of every command and page; nil for an active account.
    public var inactiveReason: String? {
        switch status {
        case .active: nil
        case .needsAuthorization: statusDetail ?? "Instagram rejected the token"
        case .deauthorized: "the owner removed this site's access on Instagram; its token was discarded"
        }
    }
}
