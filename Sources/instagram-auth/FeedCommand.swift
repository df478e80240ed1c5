import Accounts
import ArgumentParser
import Foundation
import InstagramAPI
import InstagramAuth

struct FeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Print an account's cached media feed; for scripts and static-site generators.",
        discussion: """
            USER is a username (with or without @) or a user id; it may be left out when one account is connected. \
            --json prints what the page's feed.json answers, to write to a data file. --refresh fetches the feed \
            from Instagram first (as a visit to an old copy does in the background); a failed fetch keeps the last \
            good copy, says why on stderr, and exits 1.
            """)

    @Argument(help: "The account.")
    var user: String?

    @Flag(help: "Print feed.json's JSON instead of one line per post.")
    var json = false

    @Option(help: "Print at most this many posts.")
    var limit: Int?

    @Flag(help: "Fetch the feed from Instagram first.")
    var refresh = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let limit, !(1...FeedSettings.maxSize).contains(limit) { throw ValidationError("--limit must be from 1 to \(FeedSettings.maxSize)") }
    }

    func run() async throws {
        let context = try await Context.open(common)
        do {
            try await show(context)
        } catch {
            await context.store.close()
            throw error
        }
        await context.store.close()
    }

    private func show(_ context: Context) async throws {
        let owner = try CommandError.chosen(Choice(user, among: try await context.store.feedOwners()), displayName: \.displayName)
        var failed = false
        if refresh {
            let transport = AsyncHTTPTransport(timeoutSeconds: context.configuration.httpTimeoutSeconds)
            let hook = ChangeHook(command: context.configuration.onChange, logger: try common.logger(level: "warning"))
            let fetcher = FeedFetcher(
                client: context.client(transport: transport), store: context.store, configuration: context.configuration, hook: hook,
                logger: try common.logger(level: "warning"))
            let outcome = await fetcher.fetch(userID: owner.userID)
            for failure in await hook.waitForAll() {
                FileHandle.standardError.write(Data("instagram-auth: INSTAGRAM_AUTH_ON_CHANGE failed: \(failure)\n".utf8))
                failed = true
            }
            await transport.shutdown()
            if let problem = Self.problem(outcome) {
                FileHandle.standardError.write(Data("instagram-auth: \(owner.displayName): the feed was not fetched: \(problem)\n".utf8))
                failed = true
            }
        }
        guard let feed = try await context.store.feed(userID: owner.userID), let fetchedAt = feed.fetchedAt else {
            throw CommandError("\(owner.displayName) has no cached feed yet; run feed --refresh, or visit the page's feed.json")
        }
        let stale = owner.status != .active || context.configuration.feed.isStale(fetchedAt: fetchedAt)
        if json {
            FileHandle.standardOutput.write(Data(FeedDocument(feed: feed, owner: owner, limit: limit, stale: stale).body + [0x0A]))
        } else {
            let media = FeedDocument.items(of: feed)
            print("\(owner.displayName): \(media.count) posts, fetched \(Formatting.date(fetchedAt))\(stale ? " (stale)" : "")")
            for item in media.prefix(limit ?? media.count) {
                let caption = (item.caption ?? "").split(whereSeparator: \.isNewline).first.map { String($0.prefix(80)) } ?? ""
                print([item.timestamp ?? "-", item.mediaType, item.permalink ?? "-", caption].joined(separator: "  "))
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// Why a fetch gave no new copy; nil when it did.
    static func problem(_ outcome: FeedFetcher.Outcome) -> String? {
        switch outcome {
        case .fetched, .notDue: nil
        case .busy: "another fetch is running"
        case .inactive(let reason), .needsAuthorization(let reason), .failed(let reason): reason
        }
    }
}
