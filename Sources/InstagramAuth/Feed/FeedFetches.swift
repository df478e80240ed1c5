import Foundation
import Synchronization

/// The feed fetches this process runs in the background, off every request's path: one per account at a
/// time; asking for an account whose fetch is running joins it.
final class FeedFetches: Sendable {
    let fetcher: FeedFetcher
    private let running = Mutex<[String: Task<FeedFetcher.Outcome, Never>]>([:])
    /// Until when each account's copy is known here to be fresh: a connection then needs no task and no read.
    private let freshUntil = Mutex<[String: Date]>([:])

    init(fetcher: FeedFetcher) {
        self.fetcher = fetcher
    }

    /// The running fetch of `userID`'s feed, started now if none is (with `onlyWhenStale`, one that leaves a
    /// fresh copy alone).
    @discardableResult
    func start(userID: String, onlyWhenStale: Bool = false) -> Task<FeedFetcher.Outcome, Never> {
        running.withLock { tasks in
            if let task = tasks[userID] { return task }
            // The entry goes when the fetch ends; it cannot end before it is there, as the lock is held.
            let task = Timeline.background { [fetcher] in
                let outcome = await fetcher.fetch(userID: userID, onlyWhenStale: onlyWhenStale)
                let ttl = TimeInterval(fetcher.settings.ttlSeconds)
                switch outcome {
                case .fetched: self.freshUntil.withLock { $0[userID] = Date() + ttl }
                // Fresh by the store, for some while yet: checked again within a minute.
                case .notDue: self.freshUntil.withLock { $0[userID] = Date() + min(ttl, 60) }
                default: self.freshUntil.withLock { _ = $0.removeValue(forKey: userID) }
                }
                self.running.withLock { _ = $0.removeValue(forKey: userID) }
                return outcome
            }
            tasks[userID] = task
            return task
        }
    }

    /// Starts a fetch of `userID`'s feed unless its copy is known here to be fresh, or is found so: what an
    /// account connecting (again) does.
    func startIfStale(userID: String) {
        if let until = freshUntil.withLock({ $0[userID] }), until > Date() { return }
        start(userID: userID, onlyWhenStale: true)
    }

    /// Forgets what is known of `userID`'s copy: it was removed (a deauthorization, a deletion).
    func forget(_ userID: String) {
        _ = freshUntil.withLock { $0.removeValue(forKey: userID) }
    }

    /// Whether a fetch of `userID`'s feed runs in this process now.
    func isRunning(_ userID: String) -> Bool {
        running.withLock { $0[userID] != nil }
    }

    /// Waits for every fetch started so far: what CGI mode does after answering, before it exits.
    func waitForAll() async {
        for task in running.withLock({ Array($0.values) }) { _ = await task.value }
    }
}
