import Foundation
import Synchronization

/// How many token requests one client address, and one browser, may cause in a minute: a loop of codes
/// must not make this site send Instagram a request, with the app's secret, for each of them. Counted in
/// this process's memory (each responder process, and each host, counts its own; nginx's `limit_req` in the
/// shipped examples bounds them all together).
final class CallbackLimit: Sendable {
    /// Token requests per client address per minute; 0 turns the limit off.
    let perAddress: Int
    /// Token requests per browser per minute: a person trying again needs a few.
    let perBrowser: Int
    static let window: Double = 60
    /// Past this many counted keys, the expired ones are dropped; if all are live, every count starts over,
    /// so memory stays bounded whatever addresses a flood comes from.
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
            var wait = 0
            for (key, limit) in keys {
                guard let count = counts[key], now - count.since < Self.window, count.used >= limit else { continue }
                wait = max(wait, Int((count.since + Self.window - now).rounded(.up)))
            }
            guard wait == 0 else { return max(wait, 1) }
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
