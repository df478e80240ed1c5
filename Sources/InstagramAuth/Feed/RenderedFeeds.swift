import Accounts
import Foundation
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

    /// What a request was last answered with, and when the store was last asked for it.
    struct Recent: Sendable {
        let answer: Answer
        let found: FeedLookup.Found
        let checkedAt: Date
    }

    /// Answers kept; past it the cache starts again (a few accounts × a few limits is the usual whole).
    static let capacity = 64
    /// How long a request may be answered from memory without asking the store again: how late another
    /// process's new copy, deauthorization or deletion may show here.
    static let recheckAfter: TimeInterval = 0.25
    private let answers = Mutex<[String: Answer]>([:])
    private let answered = Mutex<[String: Recent]>([:])

    /// The answer `request` (by its kind and query) got less than `recheckAfter` ago; nil when the store must be
    /// asked. A stale copy's answer is kept too: the visit that asked the store started its fetch if one was due.
    func recent(_ request: String, now: Date) -> Recent? {
        guard let kept = answered.withLock({ $0[request] }), now.timeIntervalSince(kept.checkedAt) < Self.recheckAfter else { return nil }
        return kept
    }

    func remember(_ request: String, _ answer: Answer, for found: FeedLookup.Found, checkedAt: Date) {
        answered.withLock { kept in
            if kept.count >= Self.capacity { kept.removeAll() }
            kept[request] = Recent(answer: answer, found: found, checkedAt: checkedAt)
        }
    }

    /// Forgets every answer: an account of this process was deauthorized or deleted.
    func forget() {
        answers.withLock { $0.removeAll() }
        answered.withLock { $0.removeAll() }
    }

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
