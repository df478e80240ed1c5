/// One request as the handlers see it: FastCGI (or CGI) params turned into plain values.
public struct Request: Sendable, Equatable {
    public var method: String
    /// The path asked for, as sent (percent-encoded), without the query; empty when the web server does not say.
    public var path: String
    /// The path this request is for after the web server's own rewrites (`DOCUMENT_URI`), when it says: for an
    /// SSI include, the included path, where `path` is the including page's.
    public var documentPath: String?
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
        body: [UInt8] = [],
        documentPath: String? = nil
    ) {
        self.method = method
        self.path = path
        self.documentPath = documentPath
        self.query = query
        self.headers = headers
        self.isHTTPS = isHTTPS
        self.remoteAddress = remoteAddress
        self.body = body
    }

    /// Builds a request from CGI-style params (`REQUEST_METHOD`, `QUERY_STRING`, `HTTP_*`, …).
    public init(params: [String: String], body: [UInt8] = []) {
        var headers: [String: String] = Dictionary(minimumCapacity: 24)
        var twoSpellings = false
        for (name, value) in params where name.hasPrefix("HTTP_") {
            if headers.updateValue(value, forKey: Self.headerName(param: name)) != nil { twoSpellings = true }
        }
        if twoSpellings { headers = Self.headers(spelledTwice: params) }
        if let type = params["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
        let https = params["HTTPS"].map { !$0.isEmpty && $0.lowercased() != "off" } ?? false
        self.init(
            method: params["REQUEST_METHOD"]?.uppercased() ?? "GET",
            path: Self.path(params),
            query: params["QUERY_STRING"] ?? "",
            headers: headers,
            isHTTPS: https || params["REQUEST_SCHEME"] == "https",
            remoteAddress: params["REMOTE_ADDR"] ?? "",
            body: body,
            documentPath: params["DOCUMENT_URI"].flatMap { $0.isEmpty ? nil : $0 }
        )
    }
}

extension Request {
    /// The headers when two params spell one header (HTTP_X_A, HTTP_x-a): the params in a fixed order, so that
    /// they give the same request whatever order the dictionary holds them in; the web servers' own upper-case
    /// spelling wins.
    static func headers(spelledTwice params: [String: String]) -> [String: String] {
        var headers: [String: String] = [:]
        for name in params.keys.sorted() where name.hasPrefix("HTTP_") {
            let header = headerName(param: name)
            if headers[header] == nil || isServerSpelling(name) { headers[header] = params[name] }
        }
        return headers
    }

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
