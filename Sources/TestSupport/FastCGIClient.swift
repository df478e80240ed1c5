import FastCGI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal FastCGI client speaking the wire protocol over a Unix socket, as a web server does —
/// or as a broken or hostile one might: for the tests and the benchmark, never for the product.
public struct FastCGIClient {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String

        public init(status: Int, headers: [String: String], body: String) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func request(socket path: String, params: [String: String], body: [UInt8] = []) throws -> Reply {
        let fd = try connect(path)
        defer { close(fd) }
        try writeAll(fd, RecordEncoder.request(params: params, body: body))
        return try readReply(fd)
    }

    /// Reads records up to FCGI_END_REQUEST and parses the STDOUT stream.
    public static func readReply(_ fd: Int32) throws -> Reply {
        var stdout: [UInt8] = []
        while true {
            let header = try readExactly(fd, 8)
            let type = header[1]
            let contentLength = Int(header[4]) << 8 | Int(header[5])
            let content = try readExactly(fd, contentLength + Int(header[6]))
            if type == 6 { stdout += content.prefix(contentLength) }
            if type == 3 { break }
        }
        return try parse(stdout)
    }

    public static func parse(_ bytes: [UInt8]) throws -> Reply {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure(description: "no header end in \(text)") }
        var headers: [String: String] = [:]
        for line in text[..<split.lowerBound].components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = Int(headers["status"]?.prefix(3) ?? "200") ?? 0
        return Reply(status: status, headers: headers, body: String(text[split.upperBound...]))
    }

    /// The address of a Unix socket at `path`.
    public static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        return address
    }

    public static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw Failure(description: "connect to \(path) failed: \(String(cString: strerror(errno)))")
        }
        return fd
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw Failure(description: "write failed") }
            offset += written
        }
    }

    public static func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer[filled...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard got > 0 else { throw Failure(description: "connection closed after \(filled) of \(count) bytes") }
            filled += got
        }
        return buffer
    }
}
