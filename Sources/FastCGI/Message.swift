/// One request as the page sees it: FastCGI (or CGI) params turned into plain values.
public struct Request: Sendable, Equatable {
    public var method: String
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
        query: String = "",
        headers: [String: String] = [:],
        isHTTPS: Bool = false,
        remoteAddress: String = "",
        body: [UInt8] = []
    ) {
        self.method = method
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
            let header = name.dropFirst(5).lowercased().replacingOccurrences(of: "_", with: "-")
            let isServerSpelling = name == name.uppercased() && !name.contains("-")
            if headers[header] == nil || isServerSpelling { headers[header] = params[name] }
        }
        if let type = params["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
        let https = params["HTTPS"].map { !$0.isEmpty && $0.lowercased() != "off" } ?? false
        self.init(
            method: params["REQUEST_METHOD"]?.uppercased() ?? "GET",
            query: params["QUERY_STRING"] ?? "",
            headers: headers,
            isHTTPS: https || params["REQUEST_SCHEME"] == "https",
            remoteAddress: params["REMOTE_ADDR"] ?? "",
            body: body
        )
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
        var head = "Status: \(status) \(Response.reason(for: status))\r\n"
        for header in headers {
            head += "\(Response.clean(header.name)): \(Response.clean(header.value))\r\n"
        }
        if !headers.contains(where: { $0.name.lowercased() == "content-length" }) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if includeBody { bytes += body }
        return bytes
    }

    /// Header names and values never carry a line break: one would split the response.
    private static func clean(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0 != "\r" && $0 != "\n" && $0 != "\0" })
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
}
