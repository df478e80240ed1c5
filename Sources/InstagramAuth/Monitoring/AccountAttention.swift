import Accounts
import Foundation

/// What an account needs from its owner or operator, as `accounts --check` reports it, with Nagios' severities.
public struct AccountAttention: Sendable, Equatable {
    public enum Severity: Int, Sendable, Comparable {
        case ok = 0
        case warning = 1
        case critical = 2

        public var name: String {
            switch self {
            case .ok: "OK"
            case .warning: "WARNING"
            case .critical: "CRITICAL"
            }
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var severity: Severity
    /// What is wrong, one phrase each; empty when nothing is.
    public var reasons: [String]

    /// `account` at `now`: critical when it must authorize again or its token dies within `criticalDays`; a warning when
    /// the token expires within `warnDays`, its last refresh failed, or its feed's last fetch failed (`feedFailure`).
    public init(_ account: Account, feedFailure: String?, now: Date, warnDays: Int, criticalDays: Int) {
        severity = .ok
        reasons = []
        if let reason = account.inactiveReason {
            raise(.critical, "needs a new authorization: \(reason)")
            return
        }
        let left = account.tokenExpiresAt.timeIntervalSince(now)
        if left <= 0 {
            raise(.critical, "its token expired on \(Self.day(account.tokenExpiresAt)); it must authorize again")
        } else if left < Double(max(warnDays, criticalDays)) * 86_400 {
            raise(
                left < Double(criticalDays) * 86_400 ? .critical : .warning,
                "its token expires in \(Self.remaining(left)), on \(Self.day(account.tokenExpiresAt))")
        }
        if let error = account.lastRefreshError { raise(.warning, "its last refresh failed: \(error)") }
        if !account.isLongLived { raise(.warning, "it holds only a short-lived token (refresh retries the long-lived exchange)") }
        if let feedFailure { raise(.warning, "its feed's last fetch failed (the last good copy is served): \(feedFailure)") }
    }

    private mutating func raise(_ level: Severity, _ reason: String) {
        severity = max(severity, level)
        reasons.append(reason)
    }

    static func day(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day())
    }

    public static func remaining(_ seconds: TimeInterval) -> String {
        let hours = max(1, Int(seconds / 3600))
        return hours >= 48 ? "\(hours / 24) days" : hours == 1 ? "1 hour" : "\(hours) hours"
    }
}
