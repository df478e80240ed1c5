import Synchronization

/// Where one request's time went, for the slow-request log: the router gives each request that waits on the store
/// or Instagram a timeline, and each step (a store call, a call to Instagram, the state check) adds its time to it.
final class Timeline: Sendable {
    @TaskLocal static var current: Timeline?

    private let steps = Mutex<[(name: String, calls: Int, seconds: Double)]>([])

    func add(_ name: String, seconds: Double) {
        steps.withLock { steps in
            if let index = steps.firstIndex(where: { $0.name == name }) {
                steps[index].calls += 1
                steps[index].seconds += seconds
            } else {
                steps.append((name, 1, seconds))
            }
        }
    }

    /// Starts `work` in the background as no request's work: the slow-request log does not count it, whichever
    /// request started it.
    @discardableResult
    static func background<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> Task<T, Never> {
        $current.withValue(nil) { Task(operation: work) }
    }

    /// Runs `step`, adding its time to the current timeline under `name`.
    static func measure<T>(_ name: String, _ step: () throws -> T) rethrows -> T {
        guard let timeline = current else { return try step() }
        let started = ContinuousClock.now
        defer { timeline.add(name, seconds: seconds(since: started)) }
        return try step()
    }

    /// `state check 0.001 s, store 0.004 s (3 calls), instagram token 6.012 s`, in the order the steps first ran.
    var summary: String {
        let steps = steps.withLock { $0 }
        guard !steps.isEmpty else { return "no store or Instagram call" }
        return steps.map { step in
            "\(step.name) \(Self.format(step.seconds)) s" + (step.calls > 1 ? " (\(step.calls) calls)" : "")
        }.joined(separator: ", ")
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = start.duration(to: .now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    static func format(_ seconds: Double) -> String {
        let thousandths = Int((seconds * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
