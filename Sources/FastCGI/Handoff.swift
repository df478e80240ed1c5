import Foundation

/// A connection whose request has arrived.
struct Handoff: Sendable {
    let fd: Int32
    let ready: RequestScanner.Ready
    /// Nothing was written on the connection yet, not even libfcgi's replies to management records: its send
    /// buffer is empty.
    let fresh: Bool
}

/// What the event thread leaves to the worker threads.
enum WorkerJob: Sendable {
    /// A request that found every place taken: the worker waits for one, then serves it.
    case request(Handoff)
    /// An answer that reads a local file, for a request already read (its place held).
    case read(FastCGIServer.RequestInFlight, @Sendable () -> Response, includeBody: Bool)
}

/// A blocking queue of jobs for the worker threads.
final class WorkerQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [WorkerJob] = []
    private var head = 0
    private var closed = false

    func put(_ item: WorkerJob) {
        condition.withLock {
            items.append(item)
            condition.signal()
        }
    }

    /// The next job; nil once the queue is closed and empty.
    func take() -> WorkerJob? {
        condition.withLock {
            while head == items.count && !closed { condition.wait() }
            guard head < items.count else { return nil }
            let item = items[head]
            head += 1
            if head > 1024 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return item
        }
    }

    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}
