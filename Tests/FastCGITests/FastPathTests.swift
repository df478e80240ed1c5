import Foundation
import Logging
import Testing

@testable import FastCGI
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Answers at once when it can (`?now`), and counts the requests that reached `respond(to:)`.
final class ImmediateResponder: Responder, @unchecked Sendable {
    private let lock = NSLock()
    private var slowCalls = 0
    var asked: Int { lock.withLock { slowCalls } }

    func immediateResponse(to request: Request) -> Response? {
        guard request.query.hasPrefix("now") else { return nil }
        let size = Int(request.query.dropFirst(4)) ?? 0
        return Response(status: 200, headers: [("X-Path", "now")], body: Array(repeating: 0x62, count: size))
    }

    func respond(to request: Request) async -> Response {
        lock.withLock { slowCalls += 1 }
        return Response(status: 200, headers: [("X-Path", "task")], body: Array("later".utf8))
    }
}

@Suite("Answers given on the worker's thread")
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

    @Test func roomInTheSendBufferIsToldApart() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        #expect(FastCGIServer.hasRoom(fds[0], for: 4096))
        // Fill the buffer as a peer that never reads would.
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0, count: 4096)
        while write(fds[0], chunk, chunk.count) > 0 {}
        #expect(!FastCGIServer.hasRoom(fds[0], for: 4096))
        #expect(!FastCGIServer.hasRoom(-1, for: 1))
    }
}

@Suite("Request and response bytes")
struct MessageBytesTests {
    @Test func headerNamesFromParams() {
        #expect(Request.headerName(param: "HTTP_X_FORWARDED_FOR") == "x-forwarded-for")
        #expect(Request.headerName(param: "HTTP_Cookie") == "cookie")
        #expect(Request.headerName(param: "HTTP_ÄB_C") == "äb-c")
        #expect(Request.isServerSpelling("HTTP_X_A"))
        #expect(!Request.isServerSpelling("HTTP_x_a"))
        #expect(!Request.isServerSpelling("HTTP_X-A"))
    }

    @Test func aContentLengthOfTheResponderIsNotRepeated() {
        for name in ["Content-Length", "CONTENT-LENGTH", "content-length"] {
            let text = String(decoding: Response(status: 200, headers: [(name, "2")], body: Array("hi".utf8)).serialized(), as: UTF8.self)
            #expect(text.lowercased().components(separatedBy: "content-length").count == 2, "\(name)")
        }
        let other = String(decoding: Response(status: 200, headers: [("Content-Lengths", "9")], body: []).serialized(), as: UTF8.self)
        #expect(other.contains("Content-Length: 0\r\n"))
    }

    @Test func headerValuesKeepTheirCharactersButNoLineBreaks() {
        let response = Response(status: 200, headers: [("X-Ünï", "a\u{0}b\rc\nd ✓")], body: [])
        #expect(String(decoding: response.serialized(), as: UTF8.self) == "Status: 200 OK\r\nX-Ünï: abcd ✓\r\nContent-Length: 0\r\n\r\n")
    }
}
