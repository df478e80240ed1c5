import Accounts
import ArgumentParser
import Foundation
import InstagramAPI
import InstagramAuth

struct Refresh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Refresh stored long-lived tokens that are due; for cron or a systemd timer.",
        discussion: """
            Refreshes each token that is at least 24 hours old and expires within --within-days, and retries \
            the long-lived exchange for accounts left with a one-hour token. An account whose token Instagram \
            rejects (code 190) or that expired is marked as needing a new authorization. Prints one line per \
            account and a summary; exits 1 if any account failed or needs a new authorization. Then fetches \
            the feed of each account whose cached copy is older than INSTAGRAM_AUTH_FEED_TTL, one line each; a \
            failed fetch keeps the last good copy and also exits 1. INSTAGRAM_AUTH_ON_CHANGE runs for each \
            refreshed token, account newly needing authorization and changed feed; a failing run is printed \
            and exits 1. Safe to run at the same time as itself and \
            as the responder.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Refresh tokens that expire within this many days (Instagram's tokens last 60).")
    var withinDays = 30

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "warning"

    func validate() throws {
        guard (1...59).contains(withinDays) else { throw ValidationError("--within-days must be from 1 to 59") }
    }

    func run() async throws {
        let context = try await Context.open(common)
        let transport = AsyncHTTPTransport(timeoutSeconds: context.configuration.httpTimeoutSeconds)
        let job = RefreshJob(
            client: context.client(transport: transport), store: context.store,
            window: TimeInterval(withinDays * 86_400), logger: try common.logger(level: logLevel))
        let hook = ChangeHook(command: context.configuration.onChange, logger: try common.logger(level: logLevel))
        let fetcher = FeedFetcher(
            client: context.client(transport: transport), store: context.store, configuration: context.configuration, hook: hook,
            logger: try common.logger(level: logLevel))
        let outcome: Result<(RefreshJob.Report, [(FeedOwner, FeedFetcher.Outcome)]), StoreError>
        do {
            let report = try await job.run()
            for (account, effect) in report.lines {
                switch effect {
                case .refreshed: hook.run(.refreshed, userID: account.userID, username: account.username)
                // Once, when it happens: not again on every run while the account waits for its owner.
                case .needsAuthorization where account.status == .active:
                    hook.run(.needsAuthorization, userID: account.userID, username: account.username)
                default: break
                }
            }
            outcome = .success((report, try await Self.fetchDueFeeds(fetcher, context)))
        } catch {
            outcome = .failure(error)
        }
        let hookFailures = await hook.waitForAll()
        await transport.shutdown()
        await context.store.close()
        let (report, feeds) = try outcome.get()
        for (account, effect) in report.lines {
            let text: String =
                switch effect {
                case .refreshed(let expiresAt): "refreshed, valid until \(Formatting.date(expiresAt))"
                case .notDue(let expiresAt): "not due, valid until \(Formatting.date(expiresAt))"
                case .busy: "skipped: another refresh is working on it or just renewed it"
                case .needsAuthorization(let reason): "NEEDS A NEW AUTHORIZATION: \(reason)"
                case .failed(let reason): "FAILED: \(reason)"
                }
            print("\(account.displayName): \(text)")
        }
        print(report.summary)
        var feedFailures = 0
        for (owner, fetched) in feeds {
            if fetched == .busy {
                print("\(owner.displayName): feed being fetched by another process")
            } else if let problem = FeedCommand.problem(fetched) {
                feedFailures += 1
                print("\(owner.displayName): feed FAILED: \(problem)")
            } else if case .fetched(let items) = fetched {
                print("\(owner.displayName): feed fetched, \(items) posts")
            }
        }
        for failure in hookFailures { print("INSTAGRAM_AUTH_ON_CHANGE FAILED: \(failure)") }
        if report.failures > 0 || feedFailures > 0 || !hookFailures.isEmpty { throw ExitCode(1) }
    }

    /// Fetches the feed of each active account whose copy is missing or older than the TTL.
    static func fetchDueFeeds(_ fetcher: FeedFetcher, _ context: Context) async throws(StoreError) -> [(FeedOwner, FeedFetcher.Outcome)] {
        var fetched: [(FeedOwner, FeedFetcher.Outcome)] = []
        for owner in try await context.store.feedOwners() where owner.status == .active {
            let feed = try await context.store.feed(userID: owner.userID)
            guard context.configuration.feed.isStale(fetchedAt: feed?.fetchedAt) else { continue }
            fetched.append((owner, await fetcher.fetch(userID: owner.userID)))
        }
        return fetched
    }
}
