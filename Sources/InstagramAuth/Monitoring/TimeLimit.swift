import Synchronization

/// `operation`'s result, or nil when it takes longer than `seconds`. An operation that overruns goes on by itself
/// and its result is dropped: for a check whose caller must answer in time whatever the store does.
func withinTimeLimit<T: Sendable>(seconds: Double, _ operation: @escaping @Sendable () async -> T) async -> T? {
    let answer = FirstAnswer<T?>()
    return await withCheckedContinuation { continuation in
        answer.waiting(continuation)
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            answer.give(nil)
        }
        Task {
            answer.give(await operation())
            timer.cancel()
        }
    }
}

/// Resumes a continuation with the first value given; later ones are dropped.
private final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)

    func waiting(_ continuation: CheckedContinuation<T, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    func give(_ value: T) {
        continuation.withLock { $0.take() }?.resume(returning: value)
    }
}
