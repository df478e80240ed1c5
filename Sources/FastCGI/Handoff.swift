import Foundation

/// A connection whose request has arrived, for a worker.
struct Handoff: Sendable {
    let fd: Int32
    let ready: RequestScanner.Ready
}

/// A blocking queue of handoffs for the worker threads.
final class HandoffQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Handoff] = []
    private var head = 0
    private var closed = false

    func put(_ item: Handoff) {
        condition.withLock {
            items.append(item)
            condition.signal()
        }
    }

    /// The next handoff; nil once the queue is closed and empty.
    func take() -> Handoff? {
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
