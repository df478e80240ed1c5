import Accounts
import ArgumentParser
import Foundation
import InstagramAuth

struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List connected accounts: token expiry, last refresh, state.",
        discussion: """
            With --check, a monitoring check (Nagios, Icinga, cron with MAILTO): a first line with the verdict, then \
            one line per account that needs attention. Exit 0 OK; 1 WARNING (a token expiring within --warn-days, a \
            failed refresh, a failed feed fetch, no account connected); 2 CRITICAL (an account that must authorize \
            again, a token expired or expiring within --critical-days); 3 UNKNOWN (the store could not be read).
            """)

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print JSON (without tokens) instead of a table.")
    var json = false

    @Flag(help: "Report only what needs attention, and exit 0, 1, 2 or 3 as monitoring checks do.")
    var check = false

    @Option(help: ArgumentHelp("With --check: warn about tokens expiring within this many days.", valueName: "days"))
    var warnDays = 14

    @Option(help: ArgumentHelp("With --check: critical for tokens expiring within this many days.", valueName: "days"))
    var criticalDays = 3

    func validate() throws {
        guard (0...60).contains(criticalDays), (criticalDays...60).contains(warnDays) else {
            throw ValidationError("--critical-days and --warn-days must be from 0 to 60, --warn-days at least --critical-days")
        }
        guard !(check && json) else { throw ValidationError("give --check or --json, not both") }
    }

    func run() async throws {
        if check { throw ExitCode(await checkAccounts()) }
        let store = try await Context.store(common)
        let accounts = try await store.accounts()
        await store.close()
        if json {
            let iso = ISO8601DateFormatter()
            let items: [[String: Any]] = accounts.map { account in
                var item: [String: Any] = [
                    "user_id": account.userID, "status": account.status.rawValue, "long_lived": account.isLongLived,
                    "token_expires_at": iso.string(from: account.tokenExpiresAt),
                    "connected_at": iso.string(from: account.connectedAt), "permissions": account.permissions,
                ]
                item["username"] = account.username
                item["account_type"] = account.accountType
                item["status_detail"] = account.inactiveReason
                item["last_refresh_at"] = account.lastRefreshAt.map { iso.string(from: $0) }
                item["last_refresh_error"] = account.lastRefreshError
                return item
            }
            let data = try JSONSerialization.data(withJSONObject: items, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        guard !accounts.isEmpty else {
            print("No account is connected yet.")
            return
        }
        let rows =
            [["ACCOUNT", "USER ID", "STATE", "TOKEN VALID UNTIL", "LAST REFRESH"]]
            + accounts.map { account in
                [
                    account.username.map { "@\($0)" } ?? "-", account.userID,
                    account.status == .active ? (account.isLongLived ? "active" : "active (short-lived token)") : account.status.rawValue,
                    account.status == .deauthorized ? "- (token discarded)" : Formatting.date(account.tokenExpiresAt),
                    account.lastRefreshAt.map(Formatting.date) ?? "never",
                ]
            }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}

extension Accounts {
    /// Prints the verdict and what needs attention; the exit status, Nagios' way.
    func checkAccounts() async -> Int32 {
        var found: [(account: Account, attention: AccountAttention)] = []
        do {
            let store = try await Context.store(common)
            do {
                for account in try await store.accounts() {
                    let failure = try await store.feed(userID: account.userID)?.failure
                    found.append(
                        (account, AccountAttention(account, feedFailure: failure, now: Date(), warnDays: warnDays, criticalDays: criticalDays)))
                }
            } catch {
                await store.close()
                throw error
            }
            await store.close()
        } catch {
            print("UNKNOWN: the accounts could not be read: \(error)")
            return 3
        }
        guard !found.isEmpty else {
            print("WARNING: no account is connected: the site shows no posts until its owner authorizes")
            return 1
        }
        let attention = found.filter { $0.attention.severity != .ok }
        let worst = found.map(\.attention.severity).max() ?? .ok
        if attention.isEmpty {
            let next = found.map(\.account.tokenExpiresAt).min().map { AccountAttention.remaining($0.timeIntervalSinceNow) } ?? "-"
            print("OK: \(found.count) account(s); the next token expires in \(next)")
            return 0
        }
        let critical = attention.filter { $0.attention.severity == .critical }.count
        print("\(worst.name): \(critical) critical, \(attention.count - critical) warning, of \(found.count) account(s)")
        for (account, assessed) in attention {
            print("\(assessed.severity.name) \(account.displayName): " + assessed.reasons.joined(separator: "; "))
        }
        return Int32(worst.rawValue)
    }
}
