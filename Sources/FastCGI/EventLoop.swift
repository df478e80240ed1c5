import CFastCGI
import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

extension FastCGIServer {
    /// Owns the epoll set, the listening socket's accepting, and every connection between requests.
    final class EventLoop {
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
            /// No answer was written on it yet: its send buffer is empty.
            var fresh: Bool
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
        /// Whether accepted connections come with the listening socket's timeouts; nil until the first one is seen.
        var timeoutsInherited: Bool?

        /// What is watched on a connection: something to read, the peer's close; reported when it changes.
        static let connectionEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
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
            SocketTimeouts.set(server.listener.fd)
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
                let (returned, closedElsewhere) = server.collectReturnedConnections()
                held -= closedElsewhere
                for connection in returned { receiveAnswered(connection.fd, keep: connection.keep && !stopped) }
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
                if let peer = PeerAddress(address) {
                    if let allowed = server.webServerAddresses, !allowed.contains(peer) {
                        warn("address", "refused a FastCGI connection from an address not in FCGI_WEB_SERVER_ADDRS")
                        close(fd)
                        continue
                    }
                    var on: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                }
                held += 1
                server.activity.connections.wrappingAdd(1, ordering: .relaxed)
                server.count { $0.accepted += 1 }
                // Web servers send the request as soon as they connect: when it is all there already,
                // serve it without watching the connection first.
                if case .ready(let ready)? = peekAndScan(fd, upTo: peek.count)?.scan {
                    serve(fd, ready, token: nil, fresh: true)
                    continue
                }
                watch(fd, .arriving(need: 8, deadline: now() + options.requestTimeout, bodyDeadline: nil, partial: nil), fresh: true)
            }
            setListening(false)
        }

        func watch(_ fd: Int32, _ phase: Phase, fresh: Bool = false) {
            let token = nextToken
            nextToken += 1
            watched[token] = Watched(fd: fd, phase: phase, fresh: fresh)
            if ia_epoll_set(server.epoll, EPOLL_CTL_ADD, fd, Self.connectionEvents, token) != 0 {
                watched[token] = nil
                drop(fd)
            }
        }

        func drop(_ fd: Int32) {
            close(fd)
            dropped()
        }

        /// A connection of this thread's is closed: counted out.
        func dropped() {
            held -= 1
            server.activity.connections.wrappingSubtract(1, ordering: .relaxed)
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
                    // Never waits: the connection itself may wait up to its timeout on a read.
                    let got = recv(entry.fd, &trash, trash.count, Int32(MSG_DONTWAIT))
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

        /// Looks at what a connection holds and serves it once a whole request is there.
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
                if hungUp || got == peek.count { return handOff(token, ready, hungUp: hungUp) }
                watched[token]?.phase = .arriving(
                    need: atLeast, deadline: deadline, bodyDeadline: bodyDeadline ?? now() + options.bodyGrace,
                    partial: ready)
            case .ready(let ready):
                handOff(token, ready, hungUp: hungUp)
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

        func handOff(_ token: UInt64, _ ready: RequestScanner.Ready, hungUp: Bool = false) {
            guard let entry = watched[token] else { return }
            serve(entry.fd, ready, token: token, fresh: entry.fresh, hungUp: hungUp)
        }

        /// Serves a connection whose request has arrived (`token` its entry when it is watched; `fresh` when no
        /// answer was written on it yet; `hungUp` when the event that brought it said the peer closed its side), here
        /// when a place is free, and keeps watching it, or lets it go to the thread or task that answers it.
        func serve(_ fd: Int32, _ ready: RequestScanner.Ready, token: UInt64?, fresh: Bool, hungUp: Bool = false) {
            let served = server.serveOnEventThread(Handoff(fd: fd, ready: ready, fresh: fresh && !ready.managementFirst)) {
                if let token { forget(token, closing: false) }
                // Here every read and write finds its bytes or its room; elsewhere one may wait, for at most the timeouts.
                SocketTimeouts.give(fd, inherited: &timeoutsInherited)
            }
            switch served {
            case .elsewhere:
                break
            case .answered(.closed):
                // Closing it took it out of the epoll set.
                if let token { watched[token] = nil }
                dropped()
            case .answered(.kept(let fd)):
                server.count { $0.reused += 1 }
                let phase = Phase.idle(deadline: now() + options.idleTimeout)
                if let token {
                    watched[token]?.phase = phase
                    watched[token]?.fresh = false
                    // The hang-up was in the event already taken: asked again, epoll reports it.
                    if hungUp { rearm(token, fd) }
                } else {
                    watch(fd, phase)
                }
            case .answered(.unread(let fd)):
                shutdown(fd, Int32(SHUT_WR))
                let phase = Phase.closing(deadline: now() + 2, drained: 0)
                if let token {
                    watched[token]?.phase = phase
                    // What is left to read came with the event already taken: asked again, epoll reports it.
                    rearm(token, fd)
                } else {
                    watch(fd, phase)
                }
            }
        }

        /// Has epoll report a watched connection's present state, as when it was first watched.
        func rearm(_ token: UInt64, _ fd: Int32) {
            if ia_epoll_set(server.epoll, EPOLL_CTL_MOD, fd, Self.connectionEvents, token) != 0 { forget(token, closing: true) }
        }

        func receiveAnswered(_ fd: Int32, keep: Bool) {
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
}
