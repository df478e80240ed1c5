/// An answer: a status, headers in order, and a body.
public struct Response: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as UTF-8 text, for tests and fuzz targets that read a page.
    package var text: String { String(decoding: body, as: UTF8.self) }

    public func value(of name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func == (lhs: Response, rhs: Response) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
            && lhs.headers.map { "\($0.name): \($0.value)" } == rhs.headers.map { "\($0.name): \($0.value)" }
    }

    /// The CGI/FastCGI wire form: `Status:` line, headers, a blank line, then the body
    /// (left out when `includeBody` is false, as for HEAD).
    public func serialized(includeBody: Bool = true) -> [UInt8] {
        var bytes = head(reserving: includeBody ? body.count : 0)
        if includeBody { bytes += body }
        return bytes
    }

    /// The `Status:` line, the headers and the blank line, in an array with room for `extra` more bytes.
    public func head(reserving extra: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } + extra)
        bytes += "Status: \(status) \(Response.reason(for: status))\r\n".utf8
        var hasLength = false
        for header in headers {
            Response.appendClean(header.name, to: &bytes)
            bytes += ": ".utf8
            Response.appendClean(header.value, to: &bytes)
            bytes += "\r\n".utf8
            hasLength = hasLength || Response.isContentLength(header.name)
        }
        if !hasLength { bytes += "Content-Length: \(body.count)\r\n".utf8 }
        bytes += "\r\n".utf8
        return bytes
    }

    /// Header names and values never carry a line break: one would split the response.
    /// (CR, LF and NUL are single bytes in UTF-8, never part of another character's encoding.)
    private static func appendClean(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            guard utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { return bytes.append(contentsOf: utf8) }
            for byte in utf8 where byte != 0x0D && byte != 0x0A && byte != 0 { bytes.append(byte) }
        }
    }

    private static func isContentLength(_ name: String) -> Bool {
        let expected = "content-length".utf8
        guard name.utf8.count == expected.count else { return false }
        return zip(name.utf8, expected).allSatisfy { Request.asciiLowercased($0) == $1 }
    }

    public static func reason(for status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 302: "Found"
        case 303: "See Other"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 413: "Content Too Large"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
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
