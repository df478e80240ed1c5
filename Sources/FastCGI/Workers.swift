import CFastCGI
import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension FastCGIServer {
    func workerLoop() {
        while let handoff = handoffs.take() {
            slots.wait()
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
                closed()
                continue
            }
            let parsed = Self.read(request, maxBodyBytes: options.maxBodyBytes, arrived: handoff.ready)
            let connection = RequestInFlight(request: request, ready: handoff.ready)
            switch parsed {
            case .success(let incoming):
                let includeBody = incoming.method != "HEAD"
                // A page that needs no waiting is answered on this thread: no hop to a task.
                if let response = responder.immediateResponse(to: incoming) {
                    deliver(connection, response, includeBody: includeBody)
                    continue
                }
                guard activity.waiting.wrappingAdd(1, ordering: .relaxed).newValue <= options.maxWaiting else {
                    activity.waiting.wrappingSubtract(1, ordering: .relaxed)
                    count { $0.busy += 1 }
                    deliver(connection, Self.busy, includeBody: includeBody)
                    continue
                }
                Task { [responder] in
                    let response = await responder.respond(to: incoming)
                    self.activity.waiting.wrappingSubtract(1, ordering: .relaxed)
                    self.deliver(connection, response, includeBody: includeBody)
                }
            case .failure(let answer):
                writers.async { self.finish(connection, with: answer.response, includeBody: true, bodyRead: false) }
            }
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
    func deliver(_ connection: RequestInFlight, _ response: Response, includeBody: Bool) {
        if Self.hasRoom(connection.request.pointee.ipcFd, for: (includeBody ? response.body.count : 0) + 2048) {
            finish(connection, with: response, includeBody: includeBody, bodyRead: true)
        } else {
            writers.async { self.finish(connection, with: response, includeBody: includeBody, bodyRead: true) }
        }
    }

    func finish(_ connection: RequestInFlight, with response: Response, includeBody: Bool, bodyRead: Bool) {
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
        giveBackPlace()
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
        returnToEventLoop(fd, keep: reusable)
    }

    /// A request's place among `maxInFlight` is free again: counted first, so the gauge never shows more than the limit.
    func giveBackPlace() {
        activity.ended()
        slots.signal()
    }

    /// Whether `bytes` more fit in the connection's send buffer now, with room to spare.
    static func hasRoom(_ fd: Int32, for bytes: Int) -> Bool {
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 else { return false }
        let queued = ia_unsent_bytes(fd)
        return queued >= 0 && Int(size) - Int(queued) >= 2 * bytes
    }

    /// A request struct handed from the worker that read it to the writer that answers it; never shared.
    struct RequestInFlight: @unchecked Sendable {
        let request: UnsafeMutablePointer<FCGX_Request>
        let ready: RequestScanner.Ready
    }
}
