import CFastCGI
import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The FastCGI responder.
///
/// One event thread accepts connections and watches them (epoll) until a whole request has
/// arrived, looking at the bytes without consuming them (`RequestScanner`). Only then does one
/// of the `workers` threads let libfcgi read the request — which cannot block, as every byte it
/// needs is there — and each answer runs as its own task, so neither an idle or half-sent
/// connection nor a slow Instagram ever holds a thread that other visitors need. Answers are
/// written with libfcgi; connections are then closed, or kept for the next request when the web
/// server asks for it (`fastcgi_keep_conn on`) and watched again by the event thread.
public final class FastCGIServer: @unchecked Sendable {
    public struct Options: Sendable {
        /// Threads that let libfcgi read complete requests.
        public var workers: Int
        /// Requests being answered at once; beyond it, complete requests wait their turn.
        public var maxInFlight: Int
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
            workers: Int = 4, maxInFlight: Int = 512, maxConnections: Int = 2048, maxBodyBytes: Int = 64 * 1024,
            maxHeadBytes: Int = 128 * 1024, requestTimeout: Double = 10, idleTimeout: Double = 60, bodyGrace: Double = 1
        ) {
            self.workers = workers
            self.maxInFlight = maxInFlight
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
    }

    private let listener: OpenListener
    private let responder: any Responder
    private let options: Options
    private let logger: Logger
    private let scanner: RequestScanner

    private let lock = NSLock()
    private var stopping = false
    private var counters = Counters()
    /// Connections handed from the event thread to the workers.
    private let handoffs = HandoffQueue()
    /// Connections coming back to the event thread after their answer.
    private var returned: [(fd: Int32, keep: Bool)] = []
    private var closedElsewhere = 0
    /// The event thread stopped accepting (too many connections, or out of descriptors).
    private var acceptPaused = false

    private let epoll: Int32
    private let wake: Int32
    private let slots: DispatchSemaphore
    private let workersDone = DispatchGroup()
    private let writers = DispatchQueue(label: "instagram-auth.fastcgi.writers", attributes: .concurrent)
    private let webServerAddresses: Set<UInt32>?

    /// Makes the event thread's epoll set and its wake-up eventfd; throws, saying which call failed and why,
    /// when the system refuses either (out of descriptors or memory).
    public init(listener: OpenListener, responder: any Responder, options: Options = Options(), logger: Logger) throws(ListenerError) {
        self.listener = listener
        self.responder = responder
        self.options = options
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
        self.webServerAddresses = Self.allowedWebServers(ProcessInfo.processInfo.environment["FCGI_WEB_SERVER_ADDRS"])
    }

    deinit {
        close(epoll)
        close(wake)
    }

    public var counts: Counters { lock.withLock { counters } }

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
        handoffs.close()
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

    fileprivate var isStopping: Bool { lock.withLock { stopping } }

    fileprivate func count(_ change: (inout Counters) -> Void) {
        lock.withLock { change(&counters) }
    }

    private func signalEventLoop() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    /// Hands a connection back to the event thread: to be watched for its next request, or closed.
    private func giveBack(_ fd: Int32, keep: Bool) {
        lock.withLock { returned.append((fd, keep)) }
        signalEventLoop()
    }

    /// Tells the event thread a connection it handed over is gone. It is woken only when it waits
    /// for that (accepting is paused, or it is stopping); otherwise it counts the close when it next wakes.
    private func closed() {
        let wake = lock.withLock {
            closedElsewhere += 1
            return acceptPaused || stopping
        }
        if wake { signalEventLoop() }
    }

    fileprivate func setAcceptPaused(_ paused: Bool) {
        lock.withLock { acceptPaused = paused }
    }

    fileprivate func takeReturns() -> (returned: [(fd: Int32, keep: Bool)], closed: Int) {
        lock.withLock {
            defer {
                returned.removeAll(keepingCapacity: true)
                closedElsewhere = 0
            }
            return (returned, closedElsewhere)
        }
    }

    // MARK: workers

    private func workerLoop() {
        while let handoff = handoffs.take() {
            slots.wait()
            let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
            FCGX_InitRequest(request, -1, 0)
            request.pointee.ipcFd = handoff.fd
            // Keep libfcgi from closing the connection itself (the event thread closes it, or
            // keeps it), and from lingering up to two seconds on a thread when it must close it.
            request.pointee.keepConnection = 1
            request.pointee.detached = 1
            guard FCGX_Accept_r(request) >= 0 else {
                // libfcgi refused what the scanner let through, and closed the connection.
                FCGX_Free(request, 1)
                request.deallocate()
                slots.signal()
                count { $0.malformed += 1 }
                closed()
                continue
            }
            let parsed = Self.read(request, maxBodyBytes: options.maxBodyBytes, arrived: handoff.ready)
            let connection = Connection(request: request, ready: handoff.ready)
            switch parsed {
            case .success(let incoming):
                let includeBody = incoming.method != "HEAD"
                // A page that needs no waiting is answered on this thread: no hop to a task.
                if let response = responder.immediateResponse(to: incoming) {
                    deliver(connection, response, includeBody: includeBody)
                    continue
                }
                Task { [responder] in
                    self.deliver(connection, await responder.respond(to: incoming), includeBody: includeBody)
                }
            case .failure(let answer):
                writers.async { self.finish(connection, with: answer.response, includeBody: true, bodyRead: false) }
            }
        }
    }

    /// Writes the answer from the calling thread when it fits in the connection's send buffer, so the
    /// write cannot block; otherwise a writer thread waits for the web server to take it.
    private func deliver(_ connection: Connection, _ response: Response, includeBody: Bool) {
        if Self.hasRoom(connection.request.pointee.ipcFd, for: (includeBody ? response.body.count : 0) + 2048) {
            finish(connection, with: response, includeBody: includeBody, bodyRead: true)
        } else {
            writers.async { self.finish(connection, with: response, includeBody: includeBody, bodyRead: true) }
        }
    }

    private func finish(_ connection: Connection, with response: Response, includeBody: Bool, bodyRead: Bool) {
        let request = connection.request
        let bytes = response.serialized(includeBody: includeBody)
        var offset = 0
        var delivered = true
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 20)
            let written = bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: chunk) {
                    FCGX_PutStr($0, Int32(chunk), request.pointee.out)
                }
            }
            if written < 0 {
                delivered = false
                break
            }
            offset += chunk
        }
        request.pointee.keepConnection = 1
        request.pointee.detached = 1
        FCGX_Finish_r(request)  // flushes the answer and FCGI_END_REQUEST; closes the connection on an error
        let fd = request.pointee.ipcFd
        request.deallocate()
        slots.signal()
        count {
            $0.answered += 1
            if !delivered || fd < 0 { $0.vanished += 1 }
        }
        if !delivered || fd < 0 {
            logger.debug("the web server went away before the answer was written")
            if fd >= 0 { close(fd) }
            closed()
            return
        }
        let ready = connection.ready
        let reusable = bodyRead && ready.keepConnection && ready.stdinComplete && !ready.trailing
        if !reusable && ia_readable_bytes(fd) == 0 {
            // Nothing left to read: close here, without a trip through the event thread.
            close(fd)
            closed()
            return
        }
        giveBack(fd, keep: reusable)
    }

    /// Whether `bytes` more fit in the connection's send buffer now, with room to spare.
    static func hasRoom(_ fd: Int32, for bytes: Int) -> Bool {
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 else { return false }
        let queued = ia_unsent_bytes(fd)
        return queued >= 0 && Int(size) - Int(queued) >= 2 * bytes
    }

    /// Copies params and the body that has arrived out of libfcgi's memory, or says why the
    /// request can't be served. Reads only what `arrived` says is there, so it never waits.
    static func read(
        _ request: UnsafeMutablePointer<FCGX_Request>, maxBodyBytes: Int, arrived: RequestScanner.Ready
    ) -> Result<Request, Failure> {
        var params: [String: String] = [:]
        if var entry = request.pointee.envp {
            while let pointer = entry.pointee {
                Self.addParam(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), to: &params)
                entry += 1
            }
        }
        let declared: Int
        switch Self.bodyLength(declaredIn: params, maxBodyBytes: maxBodyBytes) {
        case .success(let length): declared = length
        case .failure(let failure): return .failure(failure)
        }
        guard declared <= arrived.stdinBytes else {
            let reason = arrived.stdinComplete ? "shorter than its Content-Length" : "incomplete"
            return .failure(Failure(Response.plain(400, "The request body is \(reason).\n")))
        }
        var body = [UInt8](repeating: 0, count: declared)
        var filled = 0
        while filled < declared {
            let got = body.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: filled).withMemoryRebound(to: CChar.self, capacity: declared - filled) {
                    FCGX_GetStr($0, Int32(declared - filled), request.pointee.in)
                }
            }
            if got <= 0 { break }
            filled += Int(got)
        }
        body.removeLast(declared - filled)
        return .success(Request(params: params, body: body))
    }

    /// The params from libfcgi's `NAME=value` strings (its `envp`); a string without '=' is left out.
    /// The first '=' by unicode scalars: a value starting with a combining mark joins it into one character.
    public static func params(_ strings: [String]) -> [String: String] {
        var params: [String: String] = [:]
        for pair in strings {
            var pair = pair
            pair.withUTF8 { addParam(UnsafeRawBufferPointer($0), to: &params) }
        }
        return params
    }

    /// One `NAME=value` string, split at its first '=' byte: in UTF-8 that is the first '=' scalar,
    /// as no other character's encoding contains the byte.
    static func addParam(_ bytes: UnsafeRawBufferPointer, to params: inout [String: String]) {
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return }
        params[String(decoding: bytes[..<equals], as: UTF8.self)] = String(decoding: bytes[(equals + 1)...], as: UTF8.self)
    }

    /// How many body bytes to read: the declared `CONTENT_LENGTH`, or the answer for one that is refused.
    public static func bodyLength(declaredIn params: [String: String], maxBodyBytes: Int) -> Result<Int, Failure> {
        let text = params["CONTENT_LENGTH"]?.trimmingCharacters(in: .whitespaces) ?? ""
        let declared = text.isEmpty ? 0 : Int(text) ?? -1
        guard declared >= 0 else { return .failure(Failure(Response.plain(400, "Malformed Content-Length.\n"))) }
        guard declared <= maxBodyBytes else {
            return .failure(Failure(Response.plain(413, "The request body is too large.\n")))
        }
        return .success(declared)
    }

    /// A request the transport answers itself, without the page.
    public struct Failure: Error {
        public let response: Response
        init(_ response: Response) { self.response = response }
    }

    /// A request struct handed from the worker that read it to the writer that answers it; never shared.
    private struct Connection: @unchecked Sendable {
        let request: UnsafeMutablePointer<FCGX_Request>
        let ready: RequestScanner.Ready
    }

    // MARK: the event thread

    /// Owns the epoll set, the listening socket's accepting, and every connection between requests.
    private final class EventLoop {
        enum Phase {
            /// Waiting for a whole request; `need` bytes before looking again.
            case arriving(need: Int, deadline: Double, bodyDeadline: Double?, partial: RequestScanner.Ready?)
            /// A kept connection between requests.
            case idle(deadline: Double)
            /// Answered; reading what the client still sends until it closes, so it never gets a reset.
            case closing(deadline: Double, drained: Int)
        }

        struct Watched {
            let fd: Int32
            var phase: Phase
        }

        let server: FastCGIServer
        let options: Options
        var watched: [UInt64: Watched] = [:]
        var nextToken: UInt64 = 2
        /// Connections open, here or with the workers.
        var held = 0
        var listening = false
        var listenerOpen = true
        let peek: UnsafeMutableRawBufferPointer
        var lastWarning: [String: Double] = [:]

        static let listenerToken: UInt64 = 0
        static let wakeToken: UInt64 = 1

        init(server: FastCGIServer) {
            self.server = server
            self.options = server.options
            self.peek = .allocate(byteCount: server.scanner.limits.window, alignment: 8)
        }

        deinit { peek.deallocate() }

        func run() {
            let flags = fcntl(server.listener.fd, F_GETFL)
            _ = fcntl(server.listener.fd, F_SETFL, flags | O_NONBLOCK)
            setListening(true)
            var tokens = [UInt64](repeating: 0, count: 256)
            var events = [UInt32](repeating: 0, count: 256)
            var stopped = false
            var nextSweep = now() + 0.1

            while true {
                let count = ia_epoll_wait(server.epoll, &tokens, &events, 256, watched.isEmpty && listening && !stopped ? -1 : 100)
                if count < 0 && errno != EINTR {
                    server.logger.critical("epoll_wait failed: \(String(cString: strerror(errno))); the responder stops")
                    break
                }
                for index in 0..<max(0, Int(count)) {
                    switch tokens[index] {
                    case Self.listenerToken: acceptAll()
                    case Self.wakeToken:
                        var value: UInt64 = 0
                        _ = Glibc.read(server.wake, &value, 8)
                    default: serviceConnection(tokens[index], events: events[index])
                    }
                }
                let (returned, closedElsewhere) = server.takeReturns()
                held -= closedElsewhere
                for connection in returned { welcomeBack(connection.fd, keep: connection.keep && !stopped) }
                if !stopped && server.isStopping {
                    stopped = true
                    beginStop()
                }
                let time = now()
                if time >= nextSweep {
                    sweep(at: time, stopping: stopped)
                    nextSweep = time + 0.1
                }
                if !stopped, !listening, held < options.maxConnections { setListening(true) }
                if stopped && held == 0 { break }
            }
        }

        func now() -> Double {
            var spec = timespec()
            clock_gettime(CLOCK_MONOTONIC, &spec)
            return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
        }

        func setListening(_ on: Bool) {
            guard listenerOpen, on != listening else { return }
            let operation = on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL
            guard ia_epoll_set(server.epoll, operation, server.listener.fd, on ? EPOLLIN.rawValue : 0, Self.listenerToken) == 0 else {
                // Tried again when the loop next wakes (at the latest at the next sweep, a tenth of a second away).
                server.logger.error(
                    "epoll_ctl could not \(on ? "watch" : "stop watching") the listening socket: \(String(cString: strerror(errno)))")
                return
            }
            listening = on
            server.setAcceptPaused(!on)
        }

        func acceptAll() {
            while held < options.maxConnections {
                var address = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let fd = withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        ia_accept_cloexec(server.listener.fd, $0, &length)
                    }
                }
                guard fd >= 0 else {
                    let failure = errno
                    if failure == EAGAIN || failure == EWOULDBLOCK || failure == EINTR || failure == ECONNABORTED { return }
                    // Out of descriptors, most likely: stop listening until a connection closes.
                    warn("accept", "accept failed: \(String(cString: strerror(failure)))")
                    setListening(false)
                    return
                }
                if address.ss_family == sa_family_t(AF_INET) {
                    let peer = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                    }
                    if let allowed = server.webServerAddresses, !allowed.contains(peer) {
                        warn("address", "refused a FastCGI connection from an address not in FCGI_WEB_SERVER_ADDRS")
                        close(fd)
                        continue
                    }
                    var on: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                }
                // Backstops: no read or write on this connection may wait longer than this.
                var limit = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                held += 1
                server.count { $0.accepted += 1 }
                // Web servers send the request as soon as they connect: when it is all there already,
                // hand it over without watching the connection first.
                if case .ready(let ready)? = peekAndScan(fd, upTo: peek.count)?.scan {
                    server.handoffs.put(Handoff(fd: fd, ready: ready))
                    continue
                }
                watch(fd, .arriving(need: 8, deadline: now() + options.requestTimeout, bodyDeadline: nil, partial: nil))
            }
            setListening(false)
        }

        func watch(_ fd: Int32, _ phase: Phase) {
            let token = nextToken
            nextToken += 1
            watched[token] = Watched(fd: fd, phase: phase)
            let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
            if ia_epoll_set(server.epoll, EPOLL_CTL_ADD, fd, events, token) != 0 {
                watched[token] = nil
                drop(fd)
            }
        }

        func drop(_ fd: Int32) {
            close(fd)
            held -= 1
        }

        func forget(_ token: UInt64, closing: Bool) {
            guard let entry = watched.removeValue(forKey: token) else { return }
            if closing {
                drop(entry.fd)
            } else {
                ia_epoll_set(server.epoll, EPOLL_CTL_DEL, entry.fd, 0, 0)
            }
        }

        func serviceConnection(_ token: UInt64, events: UInt32) {
            guard let entry = watched[token] else { return }
            let hungUp = events & (EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0
            switch entry.phase {
            case .closing(let deadline, let drained):
                var total = drained
                var trash = [UInt8](repeating: 0, count: 4096)
                while true {
                    let got = Glibc.read(entry.fd, &trash, trash.count)
                    if got > 0 {
                        total += got
                        if total > 1 << 20 { return forget(token, closing: true) }
                        continue
                    }
                    if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !hungUp {
                        watched[token]?.phase = .closing(deadline: deadline, drained: total)
                        return
                    }
                    return forget(token, closing: true)
                }
            case .idle, .arriving:
                examine(token, entry, hungUp: hungUp)
            }
        }

        /// Looks at what a connection holds and hands it to a worker once a whole request is there.
        func examine(_ token: UInt64, _ entry: Watched, hungUp: Bool) {
            let available = Int(ia_readable_bytes(entry.fd))
            var need = 8
            var deadline = now() + options.requestTimeout
            var bodyDeadline: Double?
            switch entry.phase {
            case .arriving(let wanted, let until, let bodyUntil, _):
                need = wanted
                deadline = until
                bodyDeadline = bodyUntil
            case .idle, .closing:
                break
            }
            if available <= 0 {
                // Nothing to read: the peer closed (or broke) the connection, or there was nothing new.
                if hungUp || available < 0 { forget(token, closing: true) }
                return
            }
            if available < need && !hungUp {
                if case .idle = entry.phase {
                    watched[token]?.phase = .arriving(need: need, deadline: deadline, bodyDeadline: nil, partial: nil)
                }
                return
            }
            guard let (got, scan) = peekAndScan(entry.fd, upTo: min(available, peek.count)) else {
                return forget(token, closing: true)
            }
            switch scan {
            case .needMore(let atLeast):
                if hungUp { return forget(token, closing: true) }
                watched[token]?.phase = .arriving(need: atLeast, deadline: deadline, bodyDeadline: nil, partial: nil)
            case .partial(let atLeast, let ready):
                if hungUp || got == peek.count { return handOff(token, ready) }
                watched[token]?.phase = .arriving(
                    need: atLeast, deadline: deadline, bodyDeadline: bodyDeadline ?? now() + options.bodyGrace,
                    partial: ready)
            case .ready(let ready):
                handOff(token, ready)
            case .tooLarge:
                server.count { $0.tooLarge += 1 }
                warn("too-large", "closed a FastCGI connection whose params exceed \(options.maxHeadBytes) bytes")
                forget(token, closing: true)
            case .malformed(let reason):
                server.count { $0.malformed += 1 }
                warn("malformed", "closed a FastCGI connection: \(reason)")
                forget(token, closing: true)
            }
        }

        /// What has arrived on `fd` (at most `limit` bytes, left unread), and what the scanner makes of it;
        /// nil when nothing could be read.
        func peekAndScan(_ fd: Int32, upTo limit: Int) -> (got: Int, scan: RequestScanner.Outcome)? {
            let got = recv(fd, peek.baseAddress, limit, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
            guard got > 0 else { return nil }
            return (got, server.scanner.scan(UnsafeRawBufferPointer(rebasing: peek[0..<got])))
        }

        func handOff(_ token: UInt64, _ ready: RequestScanner.Ready) {
            guard let entry = watched[token] else { return }
            forget(token, closing: false)
            server.handoffs.put(Handoff(fd: entry.fd, ready: ready))
        }

        func welcomeBack(_ fd: Int32, keep: Bool) {
            if keep {
                server.count { $0.reused += 1 }
                watch(fd, .idle(deadline: now() + options.idleTimeout))
                return
            }
            if ia_readable_bytes(fd) == 0 {
                drop(fd)
                return
            }
            // Unread bytes would turn the close into a reset that may destroy the answer in flight.
            shutdown(fd, Int32(SHUT_WR))
            watch(fd, .closing(deadline: now() + 2, drained: 0))
        }

        func sweep(at time: Double, stopping: Bool) {
            for (token, entry) in watched {
                switch entry.phase {
                case .arriving(_, let deadline, let bodyDeadline, let partial):
                    if let partial, let bodyDeadline, time >= bodyDeadline {
                        handOff(token, partial)
                    } else if time >= deadline {
                        server.count { $0.timedOut += 1 }
                        forget(token, closing: true)
                    }
                case .idle(let deadline):
                    if time >= deadline || stopping { forget(token, closing: true) }
                case .closing(let deadline, _):
                    if time >= deadline { forget(token, closing: true) }
                }
            }
        }

        /// Stops taking connections. Connections already accepted are served; those waiting in
        /// the backlog of a socket we own are taken and served too. An inherited socket is left to
        /// the process manager with its backlog, for the next process to serve.
        func beginStop() {
            if server.listener.owned {
                server.listener.removeSocketFile()
                acceptAll()
                setListening(false)
                close(server.listener.fd)
            } else {
                setListening(false)
            }
            listenerOpen = false
            let time = now()
            for (token, entry) in watched {
                switch entry.phase {
                case .idle: forget(token, closing: true)
                case .arriving(let need, let deadline, let bodyDeadline, let partial):
                    watched[token]?.phase = .arriving(
                        need: need, deadline: min(deadline, time + 2), bodyDeadline: bodyDeadline, partial: partial)
                case .closing: break
                }
            }
        }

        func warn(_ kind: String, _ message: Logger.Message) {
            let time = now()
            if let last = lastWarning[kind], time - last < 1 { return }
            lastWarning[kind] = time
            server.logger.warning(message)
        }
    }

    // MARK: setup

    /// libfcgi reads with poll() (never select()), and the event thread uses epoll: descriptors
    /// beyond 1024 are safe, so allow many.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65536)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// libfcgi's `FCGI_WEB_SERVER_ADDRS`: the IPv4 addresses allowed to connect over TCP.
    static func allowedWebServers(_ list: String?) -> Set<UInt32>? {
        guard let list, !list.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        var allowed = Set<UInt32>()
        for item in list.split(separator: ",") {
            var address = in_addr()
            if inet_pton(AF_INET, item.trimmingCharacters(in: .whitespaces), &address) == 1 {
                allowed.insert(address.s_addr)
            }
        }
        return allowed
    }
}

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

extension Response {
    /// A short plain-text answer, for the transport's own refusals.
    public static func plain(_ status: Int, _ text: String) -> Response {
        Response(
            status: status,
            headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(text.utf8))
    }
}
