import Synchronization

/// What one server has done and is doing, shared by its event thread, its workers, and whoever reports it (the
/// status page) while it serves. Counters only grow; gauges say what is happening now.
public final class ServerActivity: Sendable {
    /// One reading of every figure.
    public struct Snapshot: Sendable, Equatable {
        public var counters: FastCGIServer.Counters
        /// Requests being answered now, each holding one of `Options.maxInFlight` places.
        public var active: Int
        /// The most requests answered at once since the server started.
        public var maxActive: Int
        /// Complete requests waiting for a worker or for a place to be answered.
        public var queued: Int
        /// Of the active requests, those running as tasks that wait on the store or Instagram.
        public var waiting: Int
        /// Connections open now: arriving, being answered, kept between requests, closing.
        public var connections: Int
    }

    let counters = Mutex(FastCGIServer.Counters())
    let active = Atomic<Int>(0)
    let maxActive = Atomic<Int>(0)
    let queued = Atomic<Int>(0)
    /// Requests running as tasks (`Options.maxWaiting` bounds them).
    let waiting = Atomic<Int>(0)
    /// Up when the event thread accepts a connection, down wherever it is closed.
    let connections = Atomic<Int>(0)

    public init() {}

    public var snapshot: Snapshot {
        Snapshot(
            counters: counters.withLock { $0 }, active: active.load(ordering: .relaxed), maxActive: maxActive.load(ordering: .relaxed),
            queued: queued.load(ordering: .relaxed), waiting: waiting.load(ordering: .relaxed),
            connections: connections.load(ordering: .relaxed))
    }

    /// A request got its place.
    func began() {
        let now = active.wrappingAdd(1, ordering: .relaxed).newValue
        var highest = maxActive.load(ordering: .relaxed)
        while now > highest {
            let (exchanged, original) = maxActive.compareExchange(expected: highest, desired: now, ordering: .relaxed)
            if exchanged { break }
            highest = original
        }
    }

    /// A request gave its place back.
    func ended() {
        active.wrappingSubtract(1, ordering: .relaxed)
    }
}
