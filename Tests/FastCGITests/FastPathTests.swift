import Foundation
import Logging
import Testing

@testable import FastCGI
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Answers from memory when asked `?now[=SIZE]`, as a task after `MS` milliseconds when asked `?wait=MS`, after
/// reading for `MS` milliseconds when asked `?read=MS`
/// (as an image copy is read), from memory after computing for `MS` milliseconds when asked `?hold=MS` (holding
/// the thread that asks, the event thread among them), and counts the requests that waited.
final class ImmediateResponder: Responder, @unchecked Sendable {
    private let lock = NSLock()
    private var slowCalls = 0
    var asked: Int { lock.withLock { slowCalls } }

    func answer(to request: Request) -> Answer {
        if request.query.hasPrefix("now") {
            let size = Int(request.query.dropFirst(4)) ?? 0
            return .ready(Response(status: 200, headers: [("X-Path", "now")], body: Array(repeating: 0x62, count: size)))
        }
        if request.query.hasPrefix("hold="), let milliseconds = Int(request.query.dropFirst(5)) {
            Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
            return .ready(Response(status: 200, headers: [("X-Path", "held")], body: Array("held".utf8)))
        }
        if request.query.hasPrefix("wait="), let milliseconds = Int(request.query.dropFirst(5)) {
            return .waiting {
                try? await Task.sleep(for: .milliseconds(milliseconds))
                return Response(status: 200, headers: [("X-Path", "waited")], body: Array("waited".utf8))
            }
        }
        if request.query.hasPrefix("read="), let milliseconds = Int(request.query.dropFirst(5)) {
            return .reading {
                Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
                return Response(status: 200, headers: [("X-Path", "read")], body: Array("read".utf8))
            }
        }
        return .waiting {
            self.lock.withLock { self.slowCalls += 1 }
            return Response(status: 200, headers: [("X-Path", "task")], body: Array("later".utf8))
        }
    }
}

@Suite("Answers given on the thread that read the request")
struct FastPathTests {
    @Test func anImmediateAnswerNeverReachesTheAsyncPath() async throws {
        let responder = ImmediateResponder()
        let running = try RunningServer(options: .init(workers: 2), responder: responder)
        for query in ["now", "now=70000", "later"] {
            let reply = try await running.fetch(query)
            #expect(reply.status == 200)
            let expected = query == "later" ? "task" : "now"
            #expect(reply.headers["x-path"] == expected, "\(query)")
        }
        let big = try await running.fetch("now=70000")
        #expect(big.body.count == 70000)
        #expect(responder.asked == 1)
        #expect(try await running.stopOffPool())
    }

    @Test func manyImmediateAnswersOnKeptAndNewConnections() async throws {
        let running = try RunningServer(options: .init(workers: 2), responder: ImmediateResponder())
        let jobs: [@Sendable () throws -> FastCGIClient.Reply] = (0..<40).map { index in
            { try running.get(index % 2 == 0 ? "now=10" : "later") }
        }
        let results = try await concurrently(jobs)
        #expect(results.allSatisfy { $0.reply?.status == 200 })
        #expect(try await running.stopOffPool())
        #expect(running.server.counts.answered == 40, "counted once stopped: an answer reaches the client before the server counts it")
    }

    @Test func aKeptConnectionIsAnsweredFromMemoryAgainAndAgain() async throws {
        let running = try RunningServer(options: .init(workers: 1), responder: ImmediateResponder())
        let socket = running.socketPath
        let replies = try await offPool { () -> [FastCGIClient.Reply] in
            let kept = try FastCGIClient.connect(socket)
            defer { close(kept) }
            return try (1...5).map { id in
                let query = id == 3 ? "later" : "now=\(id)"
                try FastCGIClient.writeAll(
                    kept, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": query], keepConnection: true, id: UInt16(id)))
                return try FastCGIClient.readReply(kept)
            }
        }
        #expect(replies.map(\.status) == [200, 200, 200, 200, 200])
        #expect(replies.map { $0.headers["x-path"] ?? "" } == ["now", "now", "task", "now", "now"])
        #expect(replies[4].body == "bbbbb")
        #expect(try await running.stopOffPool())
        #expect(running.server.counts.reused == 5)
        #expect(running.server.counts.accepted == 1)
    }

    @Test func aFileReadHoldsNeitherTheEventThreadNorAnAnswerFromMemory() async throws {
        let running = try RunningServer(options: .init(workers: 1), responder: ImmediateResponder())
        let began = Date()
        let replies = try await concurrently(
            (0..<3).map { _ in { try running.get("read=800") } } + [{ Thread.sleep(forTimeInterval: 0.2); return try running.get("now") }])
        #expect(try await running.stopOffPool())
        #expect(replies.prefix(3).allSatisfy { $0.reply?.headers["x-path"] == "read" })
        let fromMemory = try #require(replies.last)
        #expect(fromMemory.reply?.headers["x-path"] == "now")
        #expect(fromMemory.finished.timeIntervalSince(began) < 0.7, "answered while three reads went on")
    }

    @Test func roomInTheSendBufferIsToldApart() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let size = FastCGIServer.sendBufferSize(fds[0])
        #expect(size > 8192)
        #expect(FastCGIServer.hasRoom(fds[0], for: 4096, in: size))
        // Fill the buffer as a peer that never reads would.
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0, count: 4096)
        while write(fds[0], chunk, chunk.count) > 0 {}
        #expect(!FastCGIServer.hasRoom(fds[0], for: 4096, in: size))
        #expect(!FastCGIServer.hasRoom(-1, for: 1, in: size))
        #expect(FastCGIServer.sendBufferSize(-1) == 0)
    }

    @Test(arguments: [false, true])
    func aConnectionGivenTheTimeoutsHasThem(overTCP: Bool) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fcgi-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("s.sock").path
        let port = overTCP ? try freeLoopbackPort() : 0
        let listener = try OpenListener.open(overTCP ? .tcp(host: "127.0.0.1", port: port) : .unixSocket(path: path, mode: 0o600, owner: nil))
        defer { close(listener.fd) }
        #expect(!SocketTimeouts.isSet(on: listener.fd))
        SocketTimeouts.set(listener.fd)
        #expect(SocketTimeouts.isSet(on: listener.fd))
        var inherited: Bool?
        for _ in 0..<2 {
            let client = overTCP ? try Self.connectLoopback(port) : try FastCGIClient.connect(path)
            defer { close(client) }
            let accepted = accept(listener.fd, nil, nil)
            defer { close(accepted) }
            #expect(accepted >= 0)
            SocketTimeouts.give(accepted, inherited: &inherited)
            #expect(SocketTimeouts.isSet(on: accepted))
            #expect(inherited != nil)
        }
    }

    @Test func aConnectionAnsweredElsewhereHasTheTimeoutsAndOneAnsweredHereNone() async throws {
        let running = try RunningServer(options: .init(workers: 1), responder: ImmediateResponder())
        let socket = running.socketPath
        let (waiting, kept) = try await offPool { () -> ([Bool], [Bool]) in
            let client = try FastCGIClient.connect(socket)
            defer { close(client) }
            try FastCGIClient.writeAll(client, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "wait=400"]))
            Thread.sleep(forTimeInterval: 0.2)
            let waiting = Self.serverEnds(of: socket).map(SocketTimeouts.isSet(on:))
            #expect(try FastCGIClient.readReply(client).body == "waited")

            let idle = try FastCGIClient.connect(socket)
            defer { close(idle) }
            try FastCGIClient.writeAll(idle, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "now=3"], keepConnection: true))
            #expect(try FastCGIClient.readReply(idle).body == "bbb")
            return (waiting, Self.serverEnds(of: socket).map(SocketTimeouts.isSet(on:)))
        }
        #expect(try await running.stopOffPool())
        #expect(waiting == [true], "a task answers it: its writes may wait, for at most the timeouts")
        #expect(kept == [false], "answered from memory on the event thread, which never waits on it")
    }

    @Test func aKeptConnectionWhosePeerStopsReadingNeverHoldsTheEventThread() async throws {
        let running = try RunningServer(options: .init(workers: 1), responder: ImmediateResponder())
        let socket = running.socketPath
        let other = try await offPool { () -> FastCGIClient.Reply in
            let stuck = try FastCGIClient.connect(socket)
            defer { close(stuck) }
            // Answers the peer never reads: once they fill its send buffer, the next must go to a writer thread.
            for id in 1...8 {
                try FastCGIClient.writeAll(
                    stuck, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "now=60000"], keepConnection: true, id: UInt16(id)))
                Thread.sleep(forTimeInterval: 0.05)
            }
            let fd = try FastCGIClient.connect(socket)
            defer { close(fd) }
            var wait = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            try FastCGIClient.writeAll(fd, RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "now=2"]))
            return try FastCGIClient.readReply(fd)
        }
        #expect(other.body == "bb", "another connection is answered while the stuck one's answers wait")
        #expect(try await running.stopOffPool())
    }

    /// The server's ends of the connections to the Unix socket at `path`: this process's sockets named `path`
    /// that do not listen.
    static func serverEnds(of path: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap(Int32.init).sorted().filter { fd in
            var listening: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 0 else { return false }
            var address = sockaddr_un()
            var size = socklen_t(MemoryLayout<sockaddr_un>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
            }
            guard named == 0, address.sun_family == sa_family_t(AF_UNIX) else { return false }
            return withUnsafeBytes(of: address.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } == path
        }
    }

    static func connectLoopback(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(result == 0)
        return fd
    }
}
