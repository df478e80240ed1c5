import Foundation

extension FastCGIServer {
    public struct Options: Sendable {
        /// Threads that read image copies for their answers, and serve requests that found every place taken.
        public var workers: Int
        /// Requests being answered at once; beyond it, complete requests wait their turn.
        public var maxInFlight: Int
        /// Of those, requests that wait on the store or Instagram (the responder's `respond`); beyond it
        /// they get a 503 at once, so requests that need neither always find a place.
        public var maxWaiting: Int
        /// Connections held at once (arriving, waiting, answered, closing); beyond it new ones
        /// wait in the listen backlog.
        public var maxConnections: Int
        /// Request bodies longer than this get a 413 without being read.
        public var maxBodyBytes: Int
        /// Params (the web server's variables and the visitor's headers) longer than this close
        /// the connection.
        public var maxHeadBytes: Int
        /// Seconds a connection has to deliver a whole request.
        public var requestTimeout: Double
        /// Seconds a kept connection may stay idle between requests.
        public var idleTimeout: Double
        /// Seconds to wait for the rest of a body once the params are complete; after that the
        /// request goes on with what arrived (a body that never comes gets a 400).
        public var bodyGrace: Double

        public init(
            workers: Int = 4, maxInFlight: Int = 512, maxWaiting: Int = 384, maxConnections: Int = 2048, maxBodyBytes: Int = 64 * 1024,
            maxHeadBytes: Int = 128 * 1024, requestTimeout: Double = 10, idleTimeout: Double = 60, bodyGrace: Double = 1
        ) {
            self.workers = workers
            self.maxInFlight = maxInFlight
            // At least one place is always left for a request that needs no waiting.
            self.maxWaiting = max(1, min(maxWaiting, maxInFlight - 1))
            self.maxConnections = maxConnections
            self.maxBodyBytes = maxBodyBytes
            self.maxHeadBytes = maxHeadBytes
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.bodyGrace = bodyGrace
        }
    }

    /// What the server has seen, for logs and tests.
    public struct Counters: Sendable, Equatable {
        public var accepted = 0
        public var answered = 0
        public var reused = 0
        public var timedOut = 0
        public var tooLarge = 0
        public var malformed = 0
        public var vanished = 0
        /// Requests refused with a 503 because `maxWaiting` were already waiting.
        public var busy = 0
    }
}
