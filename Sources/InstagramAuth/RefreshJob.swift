import Accounts
import Foundation
import InstagramAPI
import Logging

/// Keeps stored tokens alive: refreshes each long-lived token that is at least 24 hours old and expires
/// within `window`, retries the long-lived exchange for accounts left with a short-lived token, and marks
/// accounts whose token Instagram rejects (code 190) or that expired as needing a new authorization.
public struct RefreshJob: Sendable {
    /// What refreshing did to one account.
    public enum Effect: Sendable, Equatable {
        case refreshed(expiresAt: Date)
        case notDue(expiresAt: Date)
        /// Another `refresh` holds the account right now, or has just refreshed it.
        case busy
        case needsAuthorization(String)
        case failed(String)
    }

    public struct Report: Sendable {
        public var lines: [(account: Account, effect: Effect)]

        public var failures: Int {
            lines.filter {
                switch $0.effect {
                case .failed, .needsAuthorization: true
                default: false
                }
            }.count
        }

        public func count(_ match: (Effect) -> Bool) -> Int { lines.filter { match($0.effect) }.count }

        public var summary: String {
            let refreshed = count { if case .refreshed = $0 { true } else { false } }
            let notDue = count { if case .notDue = $0 { true } else { false } }
            let busy = count { $0 == .busy }
            let reauthorize = count { if case .needsAuthorization = $0 { true } else { false } }
            let failed = count { if case .failed = $0 { true } else { false } }
            return "\(lines.count) account(s): \(refreshed) refreshed, \(notDue) not due, \(busy) busy elsewhere, "
                + "\(reauthorize) need a new authorization, \(failed) failed"
        }
    }

    public static let minimumAge: TimeInterval = 24 * 3600

    private let client: InstagramClient
    private let store: any AccountStore
    private let window: TimeInterval
    private let logger: Logger

    public init(client: InstagramClient, store: any AccountStore, window: TimeInterval, logger: Logger) {
        self.client = client
        self.store = store
        self.window = window
        self.logger = logger
    }

    public func run(now: Date = Date()) async throws(StoreError) -> Report {
        var report = Report(lines: [])
        for account in try await store.accounts() {
            report.lines.append((account, try await refresh(account, now: now)))
        }
        return report
    }

    private func refresh(_ account: Account, now: Date) async throws(StoreError) -> Effect {
        if let reason = account.inactiveReason { return .needsAuthorization(reason) }
        guard account.tokenExpiresAt > now else {
            let reason = "the token expired on \(Formatting.date(account.tokenExpiresAt))"
            try await store.recordRefreshFailure(userID: account.userID, token: account.accessToken, error: reason, needsAuthorization: true, now: now)
            return .needsAuthorization(reason)
        }
        let due = !account.isLongLived
            || (now.timeIntervalSince(account.tokenObtainedAt) >= Self.minimumAge
                && account.tokenExpiresAt.timeIntervalSince(now) <= window)
        guard due else { return .notDue(expiresAt: account.tokenExpiresAt) }
        guard try await store.claimRefresh(userID: account.userID, token: account.accessToken, now: now) else { return .busy }

        let renewal: Result<LongLivedToken, InstagramError>
        do {
            renewal = .success(
                account.isLongLived
                    ? try await client.refresh(account.accessToken)
                    : try await client.exchangeForLongLived(account.accessToken))
        } catch {
            renewal = .failure(error)
        }
        switch renewal {
        case .success(let renewed):
            let expiresAt = now + TimeInterval(renewed.expiresInSeconds)
            try await store.storeRefreshed(
                userID: account.userID, previousToken: account.accessToken, token: renewed.accessToken, isLongLived: true,
                expiresAt: expiresAt, now: now)
            logger.info("token refreshed", metadata: ["account": "\(account.displayName)"])
            return .refreshed(expiresAt: expiresAt)
        case .failure(let error):
            let invalid: Bool
            if case .rejected(let rejection) = error, rejection.isInvalidToken { invalid = true } else { invalid = false }
            try await store.recordRefreshFailure(
                userID: account.userID, token: account.accessToken, error: error.description, needsAuthorization: invalid, now: now)
            logger.warning("refresh failed", metadata: ["account": "\(account.displayName)", "error": "\(error)"])
            return invalid ? .needsAuthorization(error.description) : .failed(error.description)
        }
    }
}
