import FastCGI
import Foundation
import Synchronization

/// What the status page reports beyond the store: the server's activity (nil in CGI mode, where each request is a
/// process of its own), the calls to Instagram, the slow requests, and when the process started.
public final class Monitoring: Sendable {
    public let server: ServerActivity?
    public let calls = InstagramCalls()
    /// Requests that took longer than `INSTAGRAM_AUTH_SLOW_REQUEST`.
    let slowRequests = Atomic<Int>(0)
    public let started = Date()
    /// What `ready` last found, to log when it changes.
    let ready = Atomic<Bool>(true)
    /// A `ready` check is waiting on the store.
    let checkingStore = Atomic<Bool>(false)

    public init(server: ServerActivity?) {
        self.server = server
    }
}
