import Foundation

/// Runs blocking work on its own thread: callers' tasks share the small cooperative pool (with an
/// in-process responder's tasks, in the tests), and must not block it. Starts the `PoolWatch`, which
/// reports whatever blocks the pool anyway.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    PoolWatch.start()
    return try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
