import Accounts
import Synchronization

/// The feed's answers as last rendered, by what they were rendered from: a copy changes once per fetch
/// while it is asked for on every page view, so most answers (and their 304s) render nothing.
final class RenderedFeeds: Sendable {
    /// One rendered answer: its body, its validator, and its `Last-Modified`.
    struct Answer: Sendable {
        let body: [UInt8]
        let etag: String
        let lastModified: String?
    }

    /// Answers kept; past it the cache starts again (a few accounts × a few limits is the usual whole).
    static let capacity = 64
    private let answers = Mutex<[String: Answer]>([:])

    /// The answer for `kind` of `found`'s copy, rendered by `render` when it is not kept; nil when that fails
    /// (a template that does not parse), which is not kept.
    func answer(_ kind: String, for found: FeedLookup.Found, render: () -> [UInt8]?) -> Answer? {
        let key = [
            kind, found.owner.userID, found.owner.username ?? "", "\(found.feed.fetchedAt?.timeIntervalSince1970 ?? 0)",
            "\(found.limit ?? 0)", "\(found.stale)",
        ].joined(separator: "\u{0}")
        if let kept = answers.withLock({ $0[key] }) { return kept }
        guard let body = render() else { return nil }
        let answer = Answer(body: body, etag: FeedDocument.etag(of: body), lastModified: found.feed.fetchedAt.map(FeedDocument.httpDate))
        answers.withLock { kept in
            if kept.count >= Self.capacity { kept.removeAll() }
            kept[key] = answer
        }
        return answer
    }
}
