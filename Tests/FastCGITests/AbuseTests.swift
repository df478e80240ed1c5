import Foundation
import Testing

@testable import FastCGI
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Waits (off the cooperative pool) until the server closes `fd`; returns the seconds it took, nil if it stayed open.
func secondsUntilClosed(_ fd: Int32, within limit: Double = 5) -> Double? {
    let start = Date()
    var wait = timeval(tv_sec: Int(limit), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let got = read(fd, &buffer, buffer.count)
        if got > 0 { continue }
        if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return nil }
        return Date().timeIntervalSince(start)
    }
}



/// What a broken or hostile client does to the live socket; the responder must keep answering.
@Suite("FastCGI abuse against the live socket", .serialized)
struct AbuseTests {
    @Test func garbageTruncatedAndOversizedRequestsAreClosedWhileOthersAreServed() async throws {
        let running = try RunningServer(options: .init(workers: 2, requestTimeout: 30))
        let socket = running.socketPath
        let (timings, unserved) = try await offPool { () -> ([String: Double?], [String]) in
            var timings: [String: Double?] = [:]
            var unserved: [String] = []
            func attempt(_ name: String, _ bytes: [UInt8], halfClose: Bool = false) throws {
                let fd = try FastCGIClient.connect(socket)
                defer { close(fd) }
                Thread { try? FastCGIClient.writeAll(fd, bytes) }.start()
                if halfClose {
                    Thread.sleep(forTimeInterval: 0.05)
                    shutdown(fd, Int32(SHUT_WR))
                }
                timings[name] = secondsUntilClosed(fd)
                // Whatever just happened, the next visitor is served.
                let reply = try FastCGIClient.request(socket: socket, params: ["REQUEST_METHOD": "GET", "QUERY_STRING": name])
                if reply.status != 200 || !reply.body.hasPrefix("GET \(name)") { unserved.append(name) }
            }
            let whole = RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "x"])
            try attempt("http", Array("GET / HTTP/1.1\r\nHost: example\r\n\r\n".utf8))
            try attempt("version", [2] + whole.dropFirst())
            try attempt("truncated", Array(whole.prefix(13)), halfClose: true)
            try attempt("params-cut", Array(whole.prefix(whole.count - 20)), halfClose: true)
            try attempt(
                "megabyte-params",
                RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "HTTP_X": String(repeating: "x", count: 1 << 20)]))
            var generator = SystemRandomNumberGenerator()
            for round in 0..<20 {
                let noise = (0..<Int.random(in: 1...4000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                try attempt("noise\(round)", noise, halfClose: true)
            }
            return (timings, unserved)
        }
        #expect(unserved.isEmpty, "the next request went unanswered after \(unserved)")
        // Counted once stopped: an answer reaches the client before the server counts it.
        #expect(try await running.stopOffPool())
        let counts = running.server.counts
        for (name, seconds) in timings {
            #expect(seconds != nil && seconds! < 2, "\(name): closed after \(String(describing: seconds)) s")
        }
        #expect(counts.tooLarge == 1)
        #expect(counts.malformed >= 2)
        #expect(counts.answered == timings.count)
    }

    @Test func hundredsOfIdleAndHalfSentConnectionsHoldNoWorker() async throws {
        let running = try RunningServer(options: .init(workers: 2, requestTimeout: 60))
        let socket = running.socketPath
        let (elapsed, replies) = try await offPool { () -> (Double, [Int]) in
            var idle: [Int32] = []
            defer { idle.forEach { close($0) } }
            let partial = Array(RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "x"]).prefix(30))
            for index in 0..<400 {
                let fd = try FastCGIClient.connect(socket)
                if index % 4 == 0 { try? FastCGIClient.writeAll(fd, Array(partial.prefix(index % 29 + 1))) }
                idle.append(fd)
            }
            let start = Date()
            var statuses: [Int] = []
            for index in 0..<20 {
                statuses.append(try FastCGIClient.request(socket: socket, params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "n=\(index)"]).status)
            }
            return (Date().timeIntervalSince(start), statuses)
        }
        #expect(try await running.stopOffPool())
        #expect(replies == Array(repeating: 200, count: 20))
        // Had the 400 connections pinned the two workers, nothing would answer before the 60 s request timeout.
        #expect(elapsed < 5, "20 requests took \(elapsed) s next to 400 idle connections")
    }

    @Test func aConnectionThatNeverCompletesItsRequestIsClosedAtTheTimeout() async throws {
        let running = try RunningServer(options: .init(workers: 1, requestTimeout: 0.5))
        let socket = running.socketPath
        let (silent, slow) = try await offPool { () -> (Double?, Double?) in
            let quiet = try FastCGIClient.connect(socket)
            defer { close(quiet) }
            let dribble = try FastCGIClient.connect(socket)
            defer { close(dribble) }
            try? FastCGIClient.writeAll(dribble, Array(RecordEncoder.request(params: ["A": "b"]).prefix(5)))
            return (secondsUntilClosed(quiet), secondsUntilClosed(dribble))
        }
        // Counted once stopped: an answer reaches the client before the server counts it.
        #expect(try await running.stopOffPool())
        let counts = running.server.counts
        #expect(silent.map { $0 > 0.3 && $0 < 3 } == true, "silent connection closed after \(String(describing: silent)) s")
        #expect(slow.map { $0 < 3 } == true, "half-sent connection closed after \(String(describing: slow)) s")
        #expect(counts.timedOut == 2)
    }

    @Test func aBodyThatNeverArrivesGetsA400() async throws {
        let running = try RunningServer(options: .init(workers: 1, bodyGrace: 0.3))
        let socket = running.socketPath
        let reply = try await offPool { () -> FastCGIClient.Reply in
            let fd = try FastCGIClient.connect(socket)
            defer { close(fd) }
            let whole = RecordEncoder.request(params: ["REQUEST_METHOD": "POST", "CONTENT_LENGTH": "10"], body: Array("0123456789".utf8))
            // Everything up to the body's last record: the params and no body.
            try? FastCGIClient.writeAll(fd, Array(whole.prefix(whole.count - 8 - 24)))
            return try FastCGIClient.readReply(fd)
        }
        #expect(try await running.stopOffPool())
        #expect(reply.status == 400)
        #expect(reply.body.contains("incomplete"))
    }

    @Test func clientsThatVanishMidResponseCostNothing() async throws {
        let running = try RunningServer(options: .init(workers: 2))
        let socket = running.socketPath
        try await offPool {
            let group = DispatchGroup()
            for _ in 0..<20 {
                group.enter()
                Thread {
                    defer { group.leave() }
                    guard let fd = try? FastCGIClient.connect(socket) else { return }
                    try? FastCGIClient.writeAll(fd, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "big=4000000"]))
                    var some = [UInt8](repeating: 0, count: 100)
                    _ = read(fd, &some, some.count)
                    close(fd)
                }.start()
            }
            group.wait()
        }
        let deadline = Date().addingTimeInterval(10)
        while running.server.counts.answered < 20 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let reply = try await running.fetch("after=vanish")
        // Counted once stopped: an answer reaches the client before the server counts it.
        #expect(try await running.stopOffPool())
        let counts = running.server.counts
        #expect(reply.status == 200)
        #expect(counts.answered == 21)
        #expect(counts.vanished >= 1)
    }

    @Test func keptConnectionsAreReusedAndHoldNoWorker() async throws {
        let running = try RunningServer(options: .init(workers: 1))
        let socket = running.socketPath
        let (first, second, fresh, elapsed) = try await offPool { () -> (Int, String, Int, Double) in
            let kept = try FastCGIClient.connect(socket)
            defer { close(kept) }
            try? FastCGIClient.writeAll(kept, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "one"], keepConnection: true))
            let first = try FastCGIClient.readReply(kept)
            try? FastCGIClient.writeAll(kept, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "two"], keepConnection: true, id: 2))
            let second = try FastCGIClient.readReply(kept)
            // More kept, idle connections than workers.
            var idle: [Int32] = []
            defer { idle.forEach { close($0) } }
            for index in 0..<5 {
                let fd = try FastCGIClient.connect(socket)
                try? FastCGIClient.writeAll(fd, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "k\(index)"], keepConnection: true))
                _ = try FastCGIClient.readReply(fd)
                idle.append(fd)
            }
            let start = Date()
            let fresh = try FastCGIClient.request(socket: socket, params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "fresh"])
            return (first.status, second.body, fresh.status, Date().timeIntervalSince(start))
        }
        let stopStart = Date()
        #expect(try await running.stopOffPool())
        #expect(Date().timeIntervalSince(stopStart) < 2, "idle kept connections delayed the stop")
        let counts = running.server.counts
        #expect(first == 200)
        #expect(second.hasPrefix("GET two"))
        #expect(fresh == 200)
        #expect(elapsed < 2)
        #expect(counts.reused >= 6)
        #expect(counts.accepted == 7)
    }

    @Test func aClientThatSendsMoreAfterItsAnswerAndStaysHoldsNothing() async throws {
        let running = try RunningServer(options: .init(workers: 1, maxBodyBytes: 1000), responder: ImmediateResponder())
        let socket = running.socketPath
        let (first, elapsed, closedAfter) = try await offPool { () -> (Int, Double, Double?) in
            let lingering = try FastCGIClient.connect(socket)
            defer { close(lingering) }
            // A body over the limit: answered 413 without reading it, so its bytes are still there to drain.
            let request = RecordEncoder.request(
                params: ["REQUEST_METHOD": "POST", "QUERY_STRING": "now", "CONTENT_LENGTH": "300000"], body: [UInt8](repeating: 7, count: 300_000))
            _ = fcntl(lingering, F_SETFL, fcntl(lingering, F_GETFL) | O_NONBLOCK)
            _ = request.withUnsafeBytes { write(lingering, $0.baseAddress, $0.count) }
            _ = fcntl(lingering, F_SETFL, fcntl(lingering, F_GETFL) & ~O_NONBLOCK)
            let first = try FastCGIClient.readReply(lingering).status
            try FastCGIClient.writeAll(lingering, [UInt8](repeating: 7, count: 100))
            Thread.sleep(forTimeInterval: 0.1)
            let start = Date()
            let other = try FastCGIClient.request(socket: socket, params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "now"])
            #expect(other.status == 200)
            let elapsed = Date().timeIntervalSince(start)
            // Its answer ended with the server's half-close; it is closed for good once a write fails.
            let lingered = Date()
            while Date().timeIntervalSince(lingered) < 5 {
                if send(lingering, [7], 1, Int32(MSG_NOSIGNAL)) < 0 { return (first, elapsed, Date().timeIntervalSince(lingered)) }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return (first, elapsed, nil)
        }
        #expect(try await running.stopOffPool())
        #expect(first == 413)
        #expect(elapsed < 1, "another request waited on the lingering connection")
        let closed = try #require(closedAfter, "the lingering connection was never closed")
        #expect(closed < 3)
    }

    @Test func aKeptConnectionWhosePeerClosedWithItsRequestIsClosedOnceAnswered() async throws {
        let running = try RunningServer(options: .init(workers: 1), responder: ImmediateResponder())
        let socket = running.socketPath
        let (status, closedAfter) = try await offPool { () -> (Int, Double?) in
            let kept = try FastCGIClient.connect(socket)
            defer { close(kept) }
            Thread.sleep(forTimeInterval: 0.2)  // watched by the event thread before its request comes
            // The event thread is held for a moment, so that the request and the close reach it as one event.
            let holder = Thread { _ = try? FastCGIClient.request(socket: socket, params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "hold=400"]) }
            holder.start()
            Thread.sleep(forTimeInterval: 0.1)
            try FastCGIClient.writeAll(kept, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "now"], keepConnection: true))
            shutdown(kept, Int32(SHUT_WR))
            let status = try FastCGIClient.readReply(kept).status
            return (status, secondsUntilClosed(kept, within: 5))
        }
        #expect(try await running.stopOffPool())
        #expect(status == 200)
        let closed = try #require(closedAfter, "the connection was kept after its peer closed")
        #expect(closed < 1)
    }

    @Test func aManagementRecordBeforeTheRequestIsAnswered() async throws {
        let running = try RunningServer(options: .init(workers: 1))
        let socket = running.socketPath
        let (types, reply) = try await offPool { () -> ([UInt8], FastCGIClient.Reply) in
            let fd = try FastCGIClient.connect(socket)
            defer { close(fd) }
            // FCGI_GET_VALUES asking for FCGI_MPXS_CONNS.
            let query = RecordEncoder.length(15) + RecordEncoder.length(0) + Array("FCGI_MPXS_CONNS".utf8)
            try? FastCGIClient.writeAll(fd, RecordEncoder.record(type: 9, content: query, id: 0) + RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "m"]))
            let header = try FastCGIClient.readExactly(fd, 8)
            _ = try FastCGIClient.readExactly(fd, (Int(header[4]) << 8 | Int(header[5])) + Int(header[6]))
            return ([header[1]], try FastCGIClient.readReply(fd))
        }
        #expect(try await running.stopOffPool())
        #expect(types == [10])  // FCGI_GET_VALUES_RESULT
        #expect(reply.body.hasPrefix("GET m"))
    }
}
