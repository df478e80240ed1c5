import Foundation
import Logging
import Testing

@testable import FastCGI
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Answers `?sleep=MS` after that many milliseconds, and echoes what it was given.
struct EchoResponder: Responder {
    func answer(to request: Request) -> Answer {
        .waiting { await Self.echo(request) }
    }

    static func echo(_ request: Request) async -> Response {
        if let sleep = request.query.split(separator: "=").last.flatMap({ Int($0) }), request.query.hasPrefix("sleep=") {
            try? await Task.sleep(for: .milliseconds(sleep))
        }
        if request.query.hasPrefix("big="), let size = Int(request.query.dropFirst(4)) {
            return Response(status: 200, headers: [("Content-Type", "text/plain")], body: [UInt8](repeating: 0x61, count: size))
        }
        let text = "\(request.method) \(request.query) https=\(request.isHTTPS) cookie=\(request.headers["cookie"] ?? "-") body=\(String(decoding: request.body, as: UTF8.self))"
        return Response(status: 200, headers: [("Content-Type", "text/plain"), ("X-Test", "yes")], body: Array(text.utf8))
    }
}

/// A responder on a real libfcgi socket in a temporary folder, running on its own thread.
final class RunningServer: @unchecked Sendable {
    let folder: URL
    let socketPath: String
    let server: FastCGIServer
    private let finished = DispatchSemaphore(value: 0)

    convenience init(workers: Int = 2, maxBodyBytes: Int = 64 * 1024) throws {
        try self.init(options: .init(workers: workers, maxBodyBytes: maxBodyBytes))
    }

    init(options: FastCGIServer.Options, responder: any Responder = EchoResponder()) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fcgi-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        socketPath = folder.appendingPathComponent("s.sock").path
        let listener = try OpenListener.open(.unixSocket(path: socketPath, mode: 0o600, owner: nil))
        server = try FastCGIServer(
            listener: listener, responder: responder, options: options, logger: Logger(label: "test"))
        let thread = Thread { [server, finished] in
            server.run()
            finished.signal()
        }
        thread.start()
    }

    /// Stops the server and waits until `run()` returned.
    func stop() -> Bool {
        server.stop()
        return finished.wait(timeout: .now() + 10) == .success
    }

    func stopOffPool() async throws -> Bool {
        try await offPool { self.stop() }
    }

    func fetch(_ query: String, extra: [String: String] = [:]) async throws -> FastCGIClient.Reply {
        try await offPool { try self.get(query, extra: extra) }
    }

    func get(_ query: String, extra: [String: String] = [:], body: [UInt8] = []) throws -> FastCGIClient.Reply {
        var params = ["REQUEST_METHOD": "GET", "QUERY_STRING": query, "CONTENT_LENGTH": String(body.count)]
        params.merge(extra) { _, new in new }
        return try FastCGIClient.request(socket: socketPath, params: params, body: body)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }
}

/// Runs blocking client calls on their own threads and collects when each finished.
func concurrently(_ jobs: [@Sendable () throws -> FastCGIClient.Reply]) async throws -> [(reply: FastCGIClient.Reply?, finished: Date)] {
    try await offPool { concurrentlyBlocking(jobs) }
}

private func concurrentlyBlocking(_ jobs: [@Sendable () throws -> FastCGIClient.Reply]) -> [(reply: FastCGIClient.Reply?, finished: Date)] {
    final class Results: @unchecked Sendable {
        let lock = NSLock()
        var items: [(reply: FastCGIClient.Reply?, finished: Date)]
        init(_ count: Int) { items = .init(repeating: (nil, .distantPast), count: count) }
    }
    let results = Results(jobs.count)
    let group = DispatchGroup()
    for (index, job) in jobs.enumerated() {
        group.enter()
        Thread {
            let reply = try? job()
            results.lock.withLock { results.items[index] = (reply, Date()) }
            group.leave()
        }.start()
    }
    group.wait()
    return results.items
}

@Suite("FastCGI responder over a real libfcgi socket", .serialized)
struct FastCGIServerTests {
    @Test func answersWithStatusHeadersAndBody() async throws {
        let running = try RunningServer()
        let reply = try await running.fetch("a=1", extra: ["HTTP_COOKIE": "x=y", "HTTPS": "on"])
        #expect(try await running.stopOffPool())
        #expect(reply.status == 200)
        #expect(reply.headers["x-test"] == "yes")
        #expect(reply.headers["content-length"] == String(reply.body.utf8.count))
        #expect(reply.body == "GET a=1 https=true cookie=x=y body=")
    }

    @Test func readsTheRequestBodyAndRefusesOneTooLarge() async throws {
        let running = try RunningServer()
        let socket = running.socketPath
        let body = Array(String(repeating: "b", count: 70_000).utf8)
        let reply = try await offPool {
            try FastCGIClient.request(
                socket: socket, params: ["REQUEST_METHOD": "POST", "QUERY_STRING": "", "CONTENT_LENGTH": String(body.count)],
                body: body)
        }
        #expect(reply.status == 413)
        let small = try await offPool {
            try FastCGIClient.request(
                socket: socket, params: ["REQUEST_METHOD": "POST", "CONTENT_LENGTH": "5"], body: Array("hello".utf8))
        }
        #expect(small.body.hasSuffix("body=hello"))
        #expect(try await running.stopOffPool())
    }

    @Test func headAnswersWithoutBody() async throws {
        let running = try RunningServer()
        let reply = try await running.fetch("", extra: ["REQUEST_METHOD": "HEAD"])
        #expect(try await running.stopOffPool())
        #expect(reply.status == 200)
        #expect(reply.body.isEmpty)
        #expect(Int(reply.headers["content-length"] ?? "") ?? 0 > 0)
    }

    @Test func slowAnswersDoNotHoldTheWorkers() async throws {
        let running = try RunningServer(workers: 1)
        let slow: [@Sendable () throws -> FastCGIClient.Reply] = (0..<4).map { _ in { try running.get("sleep=1500") } }
        let fast: @Sendable () throws -> FastCGIClient.Reply = {
            Thread.sleep(forTimeInterval: 0.2)
            return try running.get("fast=1")
        }
        let results = try await concurrently(slow + [fast])
        #expect(try await running.stopOffPool())
        #expect(results.allSatisfy { $0.reply?.status == 200 })
        let firstSlow = results.prefix(4).map(\.finished).min()!
        #expect(results[4].finished < firstSlow, "the fast request waited for the slow ones")
    }

    @Test func stopFinishesInFlightRequestsAndRemovesTheSocket() async throws {
        let running = try RunningServer()
        // The stop's outcome travels back as the second job's status: an expectation on that
        // thread would belong to no test.
        let results = try await concurrently([
            { try running.get("sleep=1000") },
            {
                Thread.sleep(forTimeInterval: 0.3)
                return FastCGIClient.Reply(status: running.stop() ? 1 : 0, headers: [:], body: "")
            },
        ])
        #expect(results[1].reply?.status == 1, "stop did not finish within 10 s")
        #expect(results[0].reply?.status == 200)
        #expect(results[0].reply?.body.hasPrefix("GET sleep=1000") == true)
        #expect(!FileManager.default.fileExists(atPath: running.socketPath))
        #expect(throws: (any Error).self) { try running.get("after=stop") }
    }
}

@Suite("Listening sockets")
struct ListenerTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lst-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func setsTheSocketMode() throws {
        let path = try folder().appendingPathComponent("a.sock").path
        let listener = try OpenListener.open(.unixSocket(path: path, mode: 0o666, owner: nil))
        defer { close(listener.fd); listener.removeSocketFile() }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o666)
    }

    /// The socket file is made for its owner only, whatever the umask: without a mode it stays so.
    @Test func theSocketIsCreatedForItsOwnerOnly() throws {
        let path = try folder().appendingPathComponent("e.sock").path
        let listener = try OpenListener.open(.unixSocket(path: path, mode: nil, owner: nil))
        defer { close(listener.fd); listener.removeSocketFile() }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((attributes[.type] as? FileAttributeType) == .typeSocket)
    }

    @Test func refusesToReplaceASymlink() throws {
        let folder = try folder()
        let target = folder.appendingPathComponent("target").path
        FileManager.default.createFile(atPath: target, contents: Data("keep me".utf8))
        let path = folder.appendingPathComponent("f.sock").path
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        #expect(throws: ListenerError.self) { try OpenListener.open(.unixSocket(path: path, mode: 0o666, owner: nil)) }
        #expect(FileManager.default.contents(atPath: target) == Data("keep me".utf8))
        #expect((try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int) != 0o666)
    }

    @Test func replacesAStaleSocketButNotALiveOne() throws {
        let path = try folder().appendingPathComponent("b.sock").path
        let first = try OpenListener.open(.unixSocket(path: path, mode: nil, owner: nil))
        #expect(throws: ListenerError.self) { try OpenListener.open(.unixSocket(path: path, mode: nil, owner: nil)) }
        close(first.fd)  // the file stays behind, as after a crash
        #expect(FileManager.default.fileExists(atPath: path))
        let second = try OpenListener.open(.unixSocket(path: path, mode: nil, owner: nil))
        close(second.fd)
        second.removeSocketFile()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func listensOnTCP() throws {
        #expect(throws: ListenerError.self) { try OpenListener.open(.tcp(host: "127.0.0.1", port: 0)) }
        let listener = try OpenListener.open(.tcp(host: "127.0.0.1", port: Int.random(in: 20_000...60_000)))
        defer { close(listener.fd) }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener.fd, $0, &length) }
        }
        #expect(named == 0)
        #expect(address.sin_addr.s_addr == inet_addr("127.0.0.1"))
        var accepting: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(listener.fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0 && accepting == 1)
        #expect(listener.socketPath == nil)
        #expect(throws: ListenerError.self) { try OpenListener.open(.tcp(host: "no-such-host.invalid", port: 1)) }
    }

    @Test func refusesToReplaceARegularFile() throws {
        let path = try folder().appendingPathComponent("c.sock").path
        FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        #expect(throws: ListenerError.self) { try OpenListener.open(.unixSocket(path: path, mode: nil, owner: nil)) }
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
    }

    @Test func refusesAnInheritedDescriptorThatIsNotListening() throws {
        let path = try folder().appendingPathComponent("d.txt").path
        FileManager.default.createFile(atPath: path, contents: Data())
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        #expect(throws: ListenerError.self) { try OpenListener.open(.inherited(fd: fd)) }
    }
}

@Suite("Request and response values")
struct MessageTests {
    @Test func requestFromParams() {
        let request = Request(params: [
            "REQUEST_METHOD": "get", "QUERY_STRING": "code=1", "HTTP_COOKIE": "a=b", "HTTP_USER_AGENT": "t",
            "HTTPS": "on", "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "text/plain",
        ])
        #expect(request.method == "GET")
        #expect(request.query == "code=1")
        #expect(request.headers == ["cookie": "a=b", "user-agent": "t", "content-type": "text/plain"])
        #expect(request.isHTTPS)
        #expect(!Request(params: ["HTTPS": "off"]).isHTTPS)
        #expect(!Request(params: [:]).isHTTPS)
    }

    @Test func twoSpellingsOfOneHeaderGiveOneRequest() {
        let names = ["HTTP_x-a", "HTTP_X_A", "HTTP_X-A", "HTTP_Y"]
        var forward: [String: String] = [:]
        for name in names { forward[name] = name }
        var backward: [String: String] = [:]
        backward.reserveCapacity(64)
        for name in names.reversed() { backward[name] = name }
        #expect(Request(params: forward).headers == ["x-a": "HTTP_X_A", "y": "HTTP_Y"])
        #expect(Request(params: backward) == Request(params: forward))
    }

    @Test func headersWithOneSpellingEachAreAllKept() {
        var params = ["REQUEST_METHOD": "GET", "HTTP_HOST": "example.com", "HTTP_IF_NONE_MATCH": "\"a\"", "HTTP_x_custom": "1", "CONTENT_TYPE": "text/plain"]
        for index in 0..<40 { params["HTTP_X_\(index)"] = "\(index)" }
        let headers = Request(params: params).headers
        #expect(headers == Request.headers(spelledTwice: params).merging(["content-type": "text/plain"]) { $1 })
        #expect(headers.count == 44)
        #expect(headers["if-none-match"] == "\"a\"" && headers["x-custom"] == "1" && headers["x-39"] == "39")
    }

    @Test func paramsSplitAtTheFirstEquals() {
        let params = FastCGIServer.params(["QUERY_STRING=a=b", "NAME=\u{301}value", "NOEQUALS", "=x"])
        #expect(params == ["QUERY_STRING": "a=b", "NAME": "\u{301}value", "": "x"])
    }

    @Test func declaredBodyLength() throws {
        #expect(try FastCGIServer.bodyLength(declaredIn: ["CONTENT_LENGTH": " 12 "], maxBodyBytes: 64).get() == 12)
        #expect(try FastCGIServer.bodyLength(declaredIn: ["CONTENT_LENGTH": "64"], maxBodyBytes: 64).get() == 64)
        #expect(try FastCGIServer.bodyLength(declaredIn: ["CONTENT_LENGTH": ""], maxBodyBytes: 64).get() == 0)
        #expect(try FastCGIServer.bodyLength(declaredIn: [:], maxBodyBytes: 64).get() == 0)
        for (length, status) in [("-1", 400), ("65", 413), ("1 2", 400), ("0x1", 400), ("99999999999999999999999", 400)] {
            guard case .failure(let refusal) = FastCGIServer.bodyLength(declaredIn: ["CONTENT_LENGTH": length], maxBodyBytes: 64) else {
                Issue.record("CONTENT_LENGTH \(length) accepted")
                continue
            }
            #expect(refusal.response.status == status)
        }
    }

    @Test func serializedResponseCannotBeSplitByAHeaderValue() {
        let response = Response(status: 303, headers: [("Location", "/x\r\nSet-Cookie: evil=1")], body: Array("hi".utf8))
        let text = String(decoding: response.serialized(), as: UTF8.self)
        #expect(text == "Status: 303 See Other\r\nLocation: /xSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nhi")
        #expect(String(decoding: response.serialized(includeBody: false), as: UTF8.self).hasSuffix("Content-Length: 2\r\n\r\n"))
    }
}
