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
    /// Whether `ready` last found the store usable, to log when that changes.
    let lastReadiness = Atomic<Bool>(true)
    let storeCheck = StoreCheck()

    public init(server: ServerActivity?) {
        self.server = server
    }
}
