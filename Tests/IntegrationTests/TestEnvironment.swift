import AsyncHTTPClient
import ChildProcess
import Foundation
import InstagramAPI
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where the built executables and the repository are.
enum Paths {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The folder holding this test bundle holds the products too (`swift build` puts them there).
    static var products: URL {
        if let given = ProcessInfo.processInfo.environment["INSTAGRAM_AUTH_BIN_DIR"] { return URL(fileURLWithPath: given) }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }

    static func product(_ name: String) throws -> String {
        let path = products.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw StackError("\(path) is missing: run `swift build` before `swift test` (scripts/test does)")
        }
        return path
    }

    /// A child's environment: `base`, plus the sanitizers' options when the tests run under one
    /// (scripts/sanitize), so the programs under test report where the script looks.
    static func childEnvironment(_ base: [String: String]) -> [String: String] {
        var environment = base
        for (key, value) in ProcessInfo.processInfo.environment where key.hasSuffix("SAN_OPTIONS") {
            environment[key] = value
        }
        return environment
    }

    /// Under a sanitizer (scripts/sanitize) memory and speed are the sanitizer's: only correctness counts.
    static let sanitized = ProcessInfo.processInfo.environment.keys.contains { $0.hasSuffix("SAN_OPTIONS") }

    static let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The other web servers that are installed here (CI installs all three).
    static let otherServers = [("apache", "/usr/sbin/apache2"), ("lighttpd", "/usr/sbin/lighttpd"), ("caddy", "/usr/bin/caddy")]
        .filter { FileManager.default.isExecutableFile(atPath: $0.1) }.map(\.0)
}

struct StackError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Ports already handed out in this process: stacks start side by side, and the kernel may
/// offer a port again as soon as the probe that found it closes.
private final class HandedOut: @unchecked Sendable {
    let lock = NSLock()
    var ports: Set<Int> = []
}
private let handedOut = HandedOut()

/// A free loopback port no other stack of this process was given.
func freePort() throws -> Int {
    for _ in 0..<100 {
        guard let port = try? freeLoopbackPort() else { break }
        let fresh = handedOut.lock.withLock { handedOut.ports.insert(port).inserted }
        if fresh { return port }
    }
    throw StackError("no free port")
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

func waitFor(_ what: String, seconds: Double = 20, _ ready: () -> Bool) async throws {
    let deadline = Date() + seconds
    while !ready() {
        guard Date() < deadline else { throw StackError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(25))
    }
}
