import FastCGI
import InstagramAPI

/// A request as the routes see it, parsed once: its method, its path relative to the page's folder, its query.
public struct ParsedRequest: Sendable {
    public let method: String
    /// The path below the page's folder (`feed.json`); the page's own name (often empty) for the page; nil
    /// for a path outside the folder.
    public let path: String?
    public let query: Query
    public let request: Request
    private let cookie: BrowserCookie

    /// The browser's binding cookie, if it sent one this site issued; read when a handler asks.
    var browser: String? { cookie.value(in: request.headers["cookie"]) }

    init(_ request: Request, folder: String, pageName: String, cookie: BrowserCookie) {
        self.request = request
        self.cookie = cookie
        method = request.method
        query = Query(request.query)
        if request.path.isEmpty {
            // A web server that does not say which path was asked for sends only the page's.
            path = pageName
        } else if request.path.hasPrefix(folder) {
            path = String(request.path.dropFirst(folder.count))
        } else if let document = request.documentPath, document.hasPrefix(folder) {
            // An SSI include on a page elsewhere in the site: nginx passes the including page as REQUEST_URI.
            path = String(document.dropFirst(folder.count))
        } else {
            path = nil
        }
    }
}

/// The first value of each name in a query string. Names are taken as written: `%63ode` is not `code`, as it
/// is not for nginx's `$arg_code`, which the shipped token-request limit counts by.
public struct Query: Sendable {
    private var values: [String: String] = [:]

    init(_ query: String) {
        // By unicode scalars, as FormEncoding splits: a mark joined to an '&' or '=' still separates.
        for pair in query.unicodeScalars.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard values[name] == nil, !name.contains("%"), !name.contains("+") else { continue }
            values[name] = parts.count > 1 ? FormEncoding.unescape(Substring(parts[1])) : ""
        }
    }

    public subscript(name: String) -> String? { values[name] }

    /// Whether the query has `name` with a value that is not empty.
    public func has(_ name: String) -> Bool { values[name].map { !$0.isEmpty } ?? false }
}
