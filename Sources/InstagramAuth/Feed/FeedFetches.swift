import Synchronization

/// The feed fetches this process runs in the background, off every request's path: one per account at a
/// time; asking for an account whose fetch is running joins it.
final class FeedFetches: Sendable {
    let fetcher: FeedFetcher
    private let running = Mutex<[String: Task<FeedFetcher.Outcome, Never>]>([:])

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
            let task = Task { [fetcher] in
                let outcome = await fetcher.fetch(userID: userID, onlyWhenStale: onlyWhenStale)
                self.running.withLock { _ = $0.removeValue(forKey: userID) }
                return outcome
            }
            tasks[userID] = task
            return task
        }
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
