import Accounts
import Synchronization

/// The check `ready` makes of the store: one write at a time, its answer shared by every probe that asks while it
/// runs and for `reuseSeconds` after, so that probes, however many and from wherever, write to the store at most
/// about once a second, and a store that hangs is not asked again until it answers.
final class StoreCheck: Sendable {
    static let reuseSeconds = 1.0

    private struct State {
        var running: Task<String?, Never>?
        var last: (until: ContinuousClock.Instant, problem: String?)?
    }

    private enum Answer {
        case known(String?)
        case running(Task<String?, Never>)
    }

    private let state = Mutex(State())

    /// Why `store` cannot be used now, or nil when it can; at most `timeLimit` seconds to say.
    func problem(of store: any AccountStore, timeLimit: Double) async -> String? {
        let answer: Answer = state.withLock { state in
            if let last = state.last, ContinuousClock.now < last.until { return .known(last.problem) }
            if let running = state.running { return .running(running) }
            // The store's time is not the probe's that happened to start the check.
            let task = Timeline.background { () -> String? in
                var problem: String?
                do {
                    try await store.checkWritable()
                } catch {
                    problem = "the store refused a write: \(error)"
                }
                self.state.withLock { $0 = State(running: nil, last: (.now + .seconds(Self.reuseSeconds), problem)) }
                return problem
            }
            state.running = task
            return .running(task)
        }
        switch answer {
        case .known(let problem):
            return problem
        case .running(let task):
            return await withinTimeLimit(seconds: timeLimit) { await task.value } ?? "the store did not answer within \(Int(timeLimit)) s"
        }
    }
}
