import Foundation
import Synchronization

/// How many token requests one client address, and one browser, may cause in a minute: a loop of codes
/// must not make this site send Instagram a request, with the app's secret, for each of them. Counted in
/// this process's memory: each responder process, and each host, counts its own, and in CGI mode (a process
/// per request) nothing is counted; nginx's `limit_req` in the shipped examples bounds them all together.
final class CallbackLimit: Sendable {
    /// Token requests per client address per minute; 0 turns the limit off.
    let perAddress: Int
    /// Token requests per browser per minute: a person trying again needs a few.
    let perBrowser: Int
    static let window: Double = 60
    /// Past this many counted keys, the expired ones are dropped; if all are live, every count starts over
    /// (the flood's own too: memory stays bounded whatever addresses it comes from, and nginx's limit and the
    /// waiting cap still hold).
    static let maxKeys = 10_000

    private struct Count {
        var since: Double
        var used: Int
    }

    private let counts = Mutex<[String: Count]>([:])

    init(perAddress: Int) {
        self.perAddress = perAddress
        self.perBrowser = min(perAddress, 5)
    }

    /// The seconds until `address` or `browser` may cause a token request again, or nil when it may now;
    /// counts nothing: asked before the store is written to, so a request over the limit costs no write.
    func wait(address: String, browser: String, now: Double = Date().timeIntervalSince1970) -> Int? {
        guard perAddress > 0 else { return nil }
        return counts.withLock { counts in Self.wait([("a " + address, perAddress), ("b " + browser, perBrowser)], counts, now) }
    }

    private static func wait(_ keys: [(String, Int)], _ counts: [String: Count], _ now: Double) -> Int? {
        var wait = 0
        for (key, limit) in keys {
            guard let count = counts[key], now - count.since < window, count.used >= limit else { continue }
            wait = max(wait, Int((count.since + window - now).rounded(.up)))
        }
        return wait == 0 ? nil : max(wait, 1)
    }

    /// Counts one token request for `address` and `browser` and returns nil, or, when either is over its
    /// limit, counts nothing and returns the seconds until it may try again.
    func admit(address: String, browser: String, now: Double = Date().timeIntervalSince1970) -> Int? {
        guard perAddress > 0 else { return nil }
        let keys = [("a " + address, perAddress), ("b " + browser, perBrowser)]
        return counts.withLock { counts in
            if counts.count > Self.maxKeys {
                counts = counts.filter { now - $0.value.since < Self.window }
                if counts.count > Self.maxKeys { counts.removeAll() }
            }
            if let wait = Self.wait(keys, counts, now) { return wait }
            for (key, _) in keys {
                if let count = counts[key], now - count.since < Self.window {
                    counts[key]?.used = count.used + 1
                } else {
                    counts[key] = Count(since: now, used: 1)
                }
            }
            return nil
        }
    }
}
