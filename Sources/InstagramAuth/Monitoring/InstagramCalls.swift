import InstagramAPI
import Synchronization

/// Every call this process made to Instagram, by call and outcome, with how long they took: for the status page.
public final class InstagramCalls: Sendable {
    /// How a call ended, as the status page names it.
    public enum Outcome: String, Sendable, CaseIterable, Comparable {
        /// A 2xx answer.
        case ok
        /// An answer with another status: Instagram said no (a used code, a dead token, a rate limit) or failed.
        case http4xx = "http_4xx"
        case http5xx = "http_5xx"
        case timeout
        case unreachable
        case tlsFailed = "tls_failed"
        /// A reply the transport itself refused (too large, another status class).
        case unexpected

        init(_ result: Result<IncomingReply, InstagramError>) {
            switch result {
            case .success(let reply):
                switch reply.status {
                case 200..<300: self = .ok
                case 400..<500: self = .http4xx
                case 500..<600: self = .http5xx
                default: self = .unexpected
                }
            case .failure(.timedOut): self = .timeout
            case .failure(.unreachable): self = .unreachable
            case .failure(.tlsFailed): self = .tlsFailed
            case .failure(.rejected), .failure(.unexpectedResponse): self = .unexpected
            }
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The upper bounds, in seconds, of the latency histogram's buckets (Prometheus' `le`); the last bucket is `+Inf`.
    public static let bucketBounds: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The calls of one name that ended one way.
    public struct Tally: Sendable, Equatable {
        public var count = 0
        public var seconds = 0.0
        public var slowest = 0.0
        /// Calls at most `bucketBounds[i]` seconds long (not cumulative); one more entry for the rest.
        public var buckets = [Int](repeating: 0, count: InstagramCalls.bucketBounds.count + 1)

        mutating func add(seconds: Double) {
            count += 1
            self.seconds += seconds
            slowest = max(slowest, seconds)
            buckets[InstagramCalls.bucketBounds.firstIndex { seconds <= $0 } ?? InstagramCalls.bucketBounds.count] += 1
        }

        mutating func add(_ other: Tally) {
            count += other.count
            seconds += other.seconds
            slowest = max(slowest, other.slowest)
            for index in buckets.indices { buckets[index] += other.buckets[index] }
        }
    }

    public struct Key: Hashable, Sendable, Comparable {
        public let call: OutgoingRequest.Call
        public let outcome: Outcome

        public static func < (lhs: Key, rhs: Key) -> Bool { (lhs.call.rawValue, lhs.outcome) < (rhs.call.rawValue, rhs.outcome) }
    }

    private let tallies = Mutex<[Key: Tally]>([:])

    public init() {}

    func record(_ call: OutgoingRequest.Call, _ outcome: Outcome, seconds: Double) {
        tallies.withLock { $0[Key(call: call, outcome: outcome), default: Tally()].add(seconds: seconds) }
    }

    /// Every call and outcome seen so far, in order of call and outcome.
    public var snapshot: [(key: Key, tally: Tally)] {
        tallies.withLock { $0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// The transport the responder calls Instagram through: counts each call in `InstagramCalls`, and adds it to the
/// request's timeline when a slow request is being watched.
struct ObservedTransport: HTTPTransport {
    let base: any HTTPTransport
    let calls: InstagramCalls

    func send(_ request: OutgoingRequest) async throws(InstagramError) -> IncomingReply {
        let started = ContinuousClock.now
        let result: Result<IncomingReply, InstagramError>
        do {
            result = .success(try await base.send(request))
        } catch {
            result = .failure(error)
        }
        let seconds = Timeline.seconds(since: started)
        calls.record(request.call, InstagramCalls.Outcome(result), seconds: seconds)
        Timeline.current?.add("instagram \(request.call.rawValue)", seconds: seconds)
        return try result.get()
    }
}
