import CFastCGI
import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The FastCGI responder.
///
/// One event thread accepts connections and watches them (epoll) until a whole request has
/// arrived, looking at the bytes without consuming them (`RequestScanner`). Only then does it let
/// libfcgi read the request — which cannot block, as every byte it needs is there — and route it.
/// An answer computed from memory is written there and then when it fits in the send buffer, with
/// no hop to another thread; a file (an image copy) is read on one of the `workers` threads; an answer that
/// waits on the store or Instagram runs as its own task; a long answer is written by a writer
/// thread. So neither an idle or half-sent connection nor a slow Instagram ever holds a thread that
/// other visitors need. When every place for a request is taken, complete requests queue for the
/// workers, which wait for a place. Connections are then closed, or kept for the next request when
/// the web server asks for it (`fastcgi_keep_conn on`) and watched again by the event thread.
public final class FastCGIServer: @unchecked Sendable {
    let listener: OpenListener
    let responder: any Responder
    let options: Options
    let logger: Logger
    let scanner: RequestScanner

    private let lock = NSLock()
    private var stopping = false
    /// Counters and gauges, for logs, tests and the status page.
    public let activity: ServerActivity
    /// What the event thread leaves to the workers.
    let jobs = WorkerQueue()
    /// Connections coming back to the event thread after their answer.
    private var returned: [(fd: Int32, keep: Bool)] = []
    private var closedElsewhere = 0
    /// The event thread stopped accepting (too many connections, or out of descriptors).
    private var acceptPaused = false

    let epoll: Int32
    let wake: Int32
    let slots: DispatchSemaphore
    let workersDone = DispatchGroup()
    /// Where a long answer is written: the write waits for the web server to take it.
    let writers = DispatchQueue(label: "instagram-auth.fastcgi.writers", attributes: .concurrent)
    /// The connections' send buffer size on a Unix socket, where every connection starts with the same and keeps
    /// it: read from the first one (0 until then). A TCP connection's is read each time (it moves with the route
    /// and the system's memory).
    let sendBufferSize = Atomic<Int>(0)
    /// The listening socket is a Unix socket.
    let isUnixSocket: Bool
    /// The peers FCGI_WEB_SERVER_ADDRS allows, as IPv6 addresses (IPv4 ones mapped); nil for any.
    let webServerAddresses: Set<PeerAddress>?

    /// Makes the event thread's epoll set and its wake-up eventfd; throws, saying which call failed and why,
    /// when the system refuses either (out of descriptors or memory).
    public init(
        listener: OpenListener, responder: any Responder, options: Options = Options(), activity: ServerActivity = ServerActivity(), logger: Logger
    ) throws(ListenerError) {
        // Read first: a list that names something other than an address is refused before anything is opened.
        self.webServerAddresses = try Self.allowedWebServers(ProcessInfo.processInfo.environment["FCGI_WEB_SERVER_ADDRS"])
        self.listener = listener
        self.isUnixSocket = Self.family(of: listener.fd) == sa_family_t(AF_UNIX)
        self.responder = responder
        self.options = options
        self.activity = activity
        self.logger = logger
        self.scanner = RequestScanner(
            limits: .init(maxHeadBytes: options.maxHeadBytes, maxBodyBytes: options.maxBodyBytes))
        self.slots = DispatchSemaphore(value: max(1, options.maxInFlight))
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw ListenerError("epoll_create1 failed: \(String(cString: strerror(errno)))") }
        let wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wake >= 0 else {
            let reason = String(cString: strerror(errno))
            close(epoll)
            throw ListenerError("eventfd failed: \(reason)")
        }
        guard ia_epoll_set(epoll, EPOLL_CTL_ADD, wake, EPOLLIN.rawValue, EventLoop.wakeToken) == 0 else {
            let reason = String(cString: strerror(errno))
            close(wake)
            close(epoll)
            throw ListenerError("epoll_ctl could not watch the wake-up eventfd: \(reason)")
        }
        self.epoll = epoll
        self.wake = wake
    }

    deinit {
        close(epoll)
        close(wake)
    }

    /// The address family of a socket; nil when it cannot be read.
    static func family(of fd: Int32) -> sa_family_t? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return named == 0 ? address.ss_family : nil
    }

    public var counts: Counters { activity.counters.withLock { $0 } }

    /// Serves until `stop()`; then stops accepting, lets in-flight requests finish,
    /// removes the socket file it created, and returns.
    public func run() {
        Self.raiseDescriptorLimit()
        for index in 0..<max(1, options.workers) {
            workersDone.enter()
            let thread = Thread { [self] in
                self.workerLoop()
                self.workersDone.leave()
            }
            thread.name = "fastcgi-\(index)"
            thread.start()
        }
        logger.info("serving", metadata: ["workers": "\(options.workers)"])
        EventLoop(server: self).run()
        jobs.close()
        workersDone.wait()
        listener.removeSocketFile()
        let final = counts
        logger.info(
            "stopped",
            metadata: [
                "answered": "\(final.answered)", "connections": "\(final.accepted)", "reused": "\(final.reused)",
                "timed_out": "\(final.timedOut)", "malformed": "\(final.malformed)", "too_large": "\(final.tooLarge)",
            ])
    }

    /// Asks `run()` to stop. Safe to call from any thread, more than once.
    public func stop() {
        lock.withLock { stopping = true }
        signalEventLoop()
    }

    var isStopping: Bool { lock.withLock { stopping } }

    func count(_ change: (inout Counters) -> Void) {
        activity.counters.withLock { change(&$0) }
    }

    /// Gives a connection whose request has arrived to the workers.
    func enqueue(_ handoff: Handoff) {
        activity.queued.wrappingAdd(1, ordering: .relaxed)
        jobs.put(.request(handoff))
    }

    func signalEventLoop() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    /// Hands a connection back to the event thread: to be watched for its next request, or closed.
    func returnToEventLoop(_ fd: Int32, keep: Bool) {
        lock.withLock { returned.append((fd, keep)) }
        signalEventLoop()
    }

    /// Tells the event thread a connection it handed over is gone. It is woken only when it waits
    /// for that (accepting is paused, or it is stopping); otherwise it counts the close when it next wakes.
    func closed() {
        activity.connections.wrappingSubtract(1, ordering: .relaxed)
        let wake = lock.withLock {
            closedElsewhere += 1
            return acceptPaused || stopping
        }
        if wake { signalEventLoop() }
    }

    func setAcceptPaused(_ paused: Bool) {
        lock.withLock { acceptPaused = paused }
    }

    func collectReturnedConnections() -> (returned: [(fd: Int32, keep: Bool)], closed: Int) {
        lock.withLock {
            defer {
                returned.removeAll(keepingCapacity: true)
                closedElsewhere = 0
            }
            return (returned, closedElsewhere)
        }
    }
}
