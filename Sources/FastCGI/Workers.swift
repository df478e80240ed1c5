import CFastCGI
import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension FastCGIServer {
    /// Where a connection stands once its answer is written.
    enum Answered {
        /// Closed where it was answered: nothing left to read, or the web server went away.
        case closed
        /// To be watched for the web server's next request.
        case kept(Int32)
        /// Not to be reused, with bytes still unread: to be drained before it is closed.
        case unread(Int32)
    }

    /// What became of a request, seen from the thread that read it.
    enum Served {
        /// Answered on this thread.
        case answered(Answered)
        /// A worker, a writer thread or a task answers it, and hands the connection back to the event thread when done.
        case elsewhere
    }

    func workerLoop() {
        while let job = jobs.take() {
            switch job {
            case .request(let handoff):
                slots.wait()
                activity.queued.wrappingSubtract(1, ordering: .relaxed)
                if case .answered(let answered) = serve(handoff, onEventThread: false) { handBack(answered) }
            case .read(let connection, let read, let includeBody):
                if case .answered(let answered) = give(connection, read(), includeBody: includeBody, bodyRead: true) { handBack(answered) }
            }
        }
    }

    /// Serves a request on the event thread when one of `maxInFlight` places is free and none is queued for;
    /// otherwise queues it for the workers, which wait for a place. `lettingGo` runs just before another thread
    /// or a task may touch the connection: the event thread stops watching it there.
    func serveOnEventThread(_ handoff: Handoff, lettingGo: () -> Void) -> Served {
        guard activity.queued.load(ordering: .relaxed) == 0, slots.wait(timeout: .now()) == .success else {
            lettingGo()
            enqueue(handoff)
            return .elsewhere
        }
        return serve(handoff, onEventThread: true, lettingGo: lettingGo)
    }

    /// Lets libfcgi read the request, which cannot block (every byte it needs has arrived), and gives the
    /// responder's answer: on this thread when it is ready and fits in the connection's send buffer; a file to
    /// read, when this is the event thread, on a worker; a long answer on a writer thread; a waiting one as a task.
    /// The caller holds one of `maxInFlight` places, given back once the answer is written.
    func serve(_ handoff: Handoff, onEventThread: Bool, lettingGo: () -> Void = {}) -> Served {
        activity.began()
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
            giveBackPlace()
            count { $0.malformed += 1 }
            return .answered(.closed)
        }
        let connection = RequestInFlight(request: request, ready: handoff.ready, fresh: handoff.fresh)
        let incoming: Request
        switch Self.read(request, maxBodyBytes: options.maxBodyBytes, arrived: handoff.ready) {
        case .success(let read): incoming = read
        case .failure(let refusal): return give(connection, refusal.response, includeBody: true, bodyRead: false, lettingGo: lettingGo)
        }
        let includeBody = incoming.method != "HEAD"
        switch responder.answer(to: incoming) {
        case .ready(let response):
            return give(connection, response, includeBody: includeBody, bodyRead: true, lettingGo: lettingGo)
        case .reading(let read):
            guard onEventThread else { return give(connection, read(), includeBody: includeBody, bodyRead: true) }
            lettingGo()
            // Ahead of any request queued for a place (the queue is first in, first out, and none is queued now):
            // a worker reads it without waiting for a place, as it holds one.
            jobs.put(.read(connection, read, includeBody: includeBody))
            return .elsewhere
        case .waiting(let wait):
            guard activity.waiting.wrappingAdd(1, ordering: .relaxed).newValue <= options.maxWaiting else {
                activity.waiting.wrappingSubtract(1, ordering: .relaxed)
                count { $0.busy += 1 }
                return give(connection, Self.busy, includeBody: includeBody, bodyRead: true, lettingGo: lettingGo)
            }
            lettingGo()
            Task {
                let response = await wait()
                self.activity.waiting.wrappingSubtract(1, ordering: .relaxed)
                if case .answered(let answered) = self.give(connection, response, includeBody: includeBody, bodyRead: true) {
                    self.handBack(answered)
                }
            }
            return .elsewhere
        }
    }

    /// The answer when `maxWaiting` requests already wait on the store or Instagram.
    static let busy: Response = {
        var response = Response.plain(503, "Too many requests are waiting on Instagram or the database. Try again in a moment.\n")
        response.headers.append(("Retry-After", "5"))
        return response
    }()

    /// Writes the answer from the calling thread when it fits in the connection's send buffer, so the
    /// write cannot block; otherwise a writer thread waits for the web server to take it.
    func give(
        _ connection: RequestInFlight, _ response: Response, includeBody: Bool, bodyRead: Bool, lettingGo: () -> Void = {}
    ) -> Served {
        if hasRoom(connection.request.pointee.ipcFd, for: (includeBody ? response.body.count : 0) + 2048, empty: connection.fresh) {
            return .answered(finish(connection, with: response, includeBody: includeBody, bodyRead: bodyRead))
        }
        lettingGo()
        writers.async { self.handBack(self.finish(connection, with: response, includeBody: includeBody, bodyRead: bodyRead)) }
        return .elsewhere
    }

    /// Gives a connection answered away from the event thread back to it.
    func handBack(_ answered: Answered) {
        switch answered {
        case .closed: closed()
        case .kept(let fd): returnToEventLoop(fd, keep: true)
        case .unread(let fd): returnToEventLoop(fd, keep: false)
        }
    }

    func finish(_ connection: RequestInFlight, with response: Response, includeBody: Bool, bodyRead: Bool) -> Answered {
        let request = connection.request
        // The head, then the body from where it is: a long body is not copied once more.
        var delivered = Self.put(response.head(), to: request.pointee.out)
        if delivered && includeBody { delivered = Self.put(response.body, to: request.pointee.out) }
        request.pointee.keepConnection = 1
        request.pointee.detached = 1
        FCGX_Finish_r(request)  // flushes the answer and FCGI_END_REQUEST; closes the connection on an error
        let fd = request.pointee.ipcFd
        request.deallocate()
        giveBackPlace()
        count {
            $0.answered += 1
            if !delivered || fd < 0 { $0.vanished += 1 }
        }
        if !delivered || fd < 0 {
            logger.debug("the web server went away before the answer was written")
            if fd >= 0 { close(fd) }
            return .closed
        }
        let ready = connection.ready
        if bodyRead && ready.keepConnection && ready.stdinComplete && !ready.trailing { return .kept(fd) }
        if ia_readable_bytes(fd) == 0 {
            // Nothing left to read: close here, without a trip through the event thread.
            close(fd)
            return .closed
        }
        return .unread(fd)
    }

    /// Writes `bytes` to a libfcgi stream, a megabyte at a time; false when the stream fails.
    static func put(_ bytes: [UInt8], to stream: UnsafeMutablePointer<FCGX_Stream>) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let chunk = min(buffer.count - offset, 1 << 20)
                let start = buffer.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self)
                guard FCGX_PutStr(start, Int32(chunk), stream) >= 0 else { return false }
                offset += chunk
            }
            return true
        }
    }

    /// A request's place among `maxInFlight` is free again: counted first, so the gauge never shows more than the limit.
    func giveBackPlace() {
        activity.ended()
        slots.signal()
    }

    /// Whether `bytes` more fit in the connection's send buffer now, with room to spare (`empty` when nothing
    /// was written on it yet). On a Unix socket the buffer's size is read once (`sendBufferSize`).
    func hasRoom(_ fd: Int32, for bytes: Int, empty: Bool) -> Bool {
        guard isUnixSocket else { return Self.hasRoom(fd, for: bytes, in: Self.sendBufferSize(fd), empty: empty) }
        var size = sendBufferSize.load(ordering: .relaxed)
        if size == 0 {
            size = Self.sendBufferSize(fd)
            sendBufferSize.store(size, ordering: .relaxed)
        }
        return Self.hasRoom(fd, for: bytes, in: size, empty: empty)
    }

    /// Whether `bytes` more fit in a send buffer of `size` bytes on `fd`, with room to spare. What waits in it is
    /// asked of the kernel unless the buffer is known to be `empty`.
    static func hasRoom(_ fd: Int32, for bytes: Int, in size: Int, empty: Bool = false) -> Bool {
        let queued = empty ? 0 : ia_unsent_bytes(fd)
        return queued >= 0 && size - Int(queued) >= 2 * bytes
    }

    /// The size of `fd`'s send buffer; 0 when it cannot be read.
    static func sendBufferSize(_ fd: Int32) -> Int {
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 else { return 0 }
        return Int(size)
    }

    /// A request struct handed from the worker that read it to the writer that answers it; never shared.
    struct RequestInFlight: @unchecked Sendable {
        let request: UnsafeMutablePointer<FCGX_Request>
        let ready: RequestScanner.Ready
        let fresh: Bool
    }
}
