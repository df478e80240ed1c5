/// One request as the page sees it: FastCGI (or CGI) params turned into plain values.
public struct Request: Sendable, Equatable {
    public var method: String
    /// The path asked for, as sent (percent-encoded), without the query; empty when the web server does not say.
    public var path: String
    /// The raw query string, without the leading `?`.
    public var query: String
    /// Request headers by lower-cased name (`cookie`, `user-agent`, …).
    public var headers: [String: String]
    /// True when the web server says the visitor came over TLS.
    public var isHTTPS: Bool
    public var remoteAddress: String
    public var body: [UInt8]

    public init(
        method: String,
        path: String = "",
        query: String = "",
        headers: [String: String] = [:],
        isHTTPS: Bool = false,
        remoteAddress: String = "",
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.isHTTPS = isHTTPS
        self.remoteAddress = remoteAddress
        self.body = body
    }

    /// Builds a request from CGI-style params (`REQUEST_METHOD`, `QUERY_STRING`, `HTTP_*`, …).
    public init(params: [String: String], body: [UInt8] = []) {
        var headers: [String: String] = [:]
        // Params in a fixed order, so that two spellings of one header (HTTP_X_A, HTTP_x-a) give the same
        // request whatever order the dictionary holds them in: the web servers' own upper-case spelling wins.
        for name in params.keys.sorted() where name.hasPrefix("HTTP_") {
            let header = Self.headerName(param: name)
            let isServerSpelling = Self.isServerSpelling(name)
            if headers[header] == nil || isServerSpelling { headers[header] = params[name] }
        }
        if let type = params["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
        let https = params["HTTPS"].map { !$0.isEmpty && $0.lowercased() != "off" } ?? false
        self.init(
            method: params["REQUEST_METHOD"]?.uppercased() ?? "GET",
            path: Self.path(params),
            query: params["QUERY_STRING"] ?? "",
            headers: headers,
            isHTTPS: https || params["REQUEST_SCHEME"] == "https",
            remoteAddress: params["REMOTE_ADDR"] ?? "",
            body: body
        )
    }
}

extension Request {
    /// The path as the visitor sent it: `REQUEST_URI` up to its query (every web server passes it), else
    /// `SCRIPT_NAME` and `PATH_INFO`.
    static func path(_ params: [String: String]) -> String {
        if let uri = params["REQUEST_URI"], !uri.isEmpty {
            return String(uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? Substring(uri))
        }
        return (params["SCRIPT_NAME"] ?? "") + (params["PATH_INFO"] ?? "")
    }

    /// `HTTP_X_FORWARDED_FOR` → `x-forwarded-for`.
    static func headerName(param name: String) -> String {
        let rest = name.utf8.dropFirst(5)
        guard rest.allSatisfy({ $0 < 0x80 }) else {
            return name.dropFirst(5).lowercased().replacingOccurrences(of: "_", with: "-")
        }
        return String(decoding: rest.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : asciiLowercased($0) }, as: UTF8.self)
    }

    /// A–Z made a–z; every other byte as it is.
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// The web servers' own spelling of a header param: upper case, `_` for `-`.
    static func isServerSpelling(_ name: String) -> Bool {
        guard name.utf8.allSatisfy({ $0 < 0x80 }) else { return name == name.uppercased() && !name.contains("-") }
        return !name.utf8.contains { ($0 >= 0x61 && $0 <= 0x7A) || $0 == UInt8(ascii: "-") }
    }
}

/// What the page answers: a status, headers in order, and a body.
public struct Response: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } + (includeBody ? body.count : 0))
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
        if includeBody { bytes += body }
        return bytes
    }

    /// Header names and values never carry a line break: one would split the response.
    /// (CR, LF and NUL are single bytes in UTF-8, never part of another character's encoding.)
    private static func appendClean(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { return bytes += utf8 }
        for byte in utf8 where byte != 0x0D && byte != 0x0A && byte != 0 { bytes.append(byte) }
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
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }
}

/// What turns a request into a response. The transport calls it from many tasks at once.
public protocol Responder: Sendable {
    func respond(to request: Request) async -> Response
    /// The answer, when it needs no waiting (nothing to ask another server or a database), computed on
    /// the calling thread; nil sends the request to `respond(to:)`. Must agree with `respond(to:)`.
    func immediateResponse(to request: Request) -> Response?
}

extension Responder {
    public func immediateResponse(to request: Request) -> Response? { nil }
}
