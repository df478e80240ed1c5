import Accounts
import FastCGI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the status page shows, read once: the process, the server's counters (FastCGI mode only), the calls to
/// Instagram, and each account's token and feed.
struct StatusReport: Sendable {
    struct AccountLine: Sendable {
        var userID: String
        var username: String?
        var state: Account.Status
        /// Nil once the token was discarded (deauthorized).
        var tokenExpiresAt: Date?
        var lastRefreshAt: Date?
        var lastRefreshError: String?
        var feedFetchedAt: Date?
        var feedFailure: String?
    }

    var now: Date
    var started: Date
    /// `fastcgi`, or `cgi` (one process a request: no counters to keep).
    var mode: String
    var server: ServerActivity.Snapshot?
    var slowRequests: Int
    var calls: [(key: InstagramCalls.Key, tally: InstagramCalls.Tally)]
    var accounts: [AccountLine]
    /// Why the accounts could not be read; nil when they were.
    var storeProblem: String?
    var residentBytes: Int?
    var cpuSeconds: Double

    /// Seconds the page waits for the accounts: a store that hangs leaves the counters to be shown.
    static let storeTimeLimit = 5.0

    static func read(_ backends: Backends) async -> StatusReport {
        let monitoring = backends.monitoring
        let store = backends.store
        let read = await withinTimeLimit(seconds: storeTimeLimit) { await accountLines(store) }
        var accounts: [AccountLine] = []
        var storeProblem: String?
        switch read {
        case .success(let lines)?: accounts = lines
        case .failure(let error)?: storeProblem = "\(error)"
        case nil: storeProblem = "the store did not answer within \(Int(storeTimeLimit)) s"
        }
        return StatusReport(
            now: Date(), started: monitoring.started, mode: monitoring.server == nil ? "cgi" : "fastcgi",
            server: monitoring.server?.snapshot, slowRequests: monitoring.slowRequests.load(ordering: .relaxed),
            calls: monitoring.calls.snapshot, accounts: accounts, storeProblem: storeProblem, residentBytes: Self.residentBytes(),
            cpuSeconds: Self.cpuSeconds())
    }

    static func accountLines(_ store: any AccountStore) async -> Result<[AccountLine], StoreError> {
        do {
            var lines: [AccountLine] = []
            for account in try await store.accounts() {
                let feed = try await store.feed(userID: account.userID)
                lines.append(
                    AccountLine(
                        userID: account.userID, username: account.username, state: account.status,
                        tokenExpiresAt: account.status == .deauthorized ? nil : account.tokenExpiresAt, lastRefreshAt: account.lastRefreshAt,
                        lastRefreshError: account.lastRefreshError, feedFetchedAt: feed?.fetchedAt, feedFailure: feed?.failure))
            }
            return .success(lines)
        } catch {
            return .failure(error)
        }
    }

    /// Resident memory, from `/proc/self/statm` (in pages).
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// User and system CPU time of the whole process.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
