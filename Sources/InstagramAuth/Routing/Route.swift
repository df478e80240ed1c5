import FastCGI

/// One entry of the route table: a path below the page's folder, the methods it answers, what the query
/// must hold, and the handler that answers.
struct Route: Sendable {
    enum Path: Sendable, Equatable {
        /// The redirect URI itself (and its folder, when the redirect URI names a file such as `index.php`).
        case page
        /// A file below the page's folder.
        case file(String)
        /// Any file in a folder below the page's folder (`media` for `media/<name>`); the handler reads the name.
        case folder(String)
    }

    /// What answers a route, and whether it waits on the store or Instagram.
    enum Handler: Sendable {
        /// Computed from memory alone: answered at once on the thread that read the request (the event thread
        /// among them); in CGI mode without opening the store or the HTTP client.
        case immediate(@Sendable (ParsedRequest, HandlerContext) -> Response)
        /// Reads a small local file (an image copy), and needs neither the store nor Instagram: answered at once
        /// from memory when `immediate` can (it gives nil when it cannot), else by `reading` on a thread that may block.
        case reading(
            immediate: @Sendable (ParsedRequest, HandlerContext) -> Response?,
            reading: @Sendable (ParsedRequest, HandlerContext) -> Response)
        /// Waits on the store or Instagram: runs as a task of its own.
        case waiting(@Sendable (ParsedRequest, HandlerContext, Backends) async -> Response)
        /// Answered at once from what this process keeps in memory when it has it (`immediate` gives nil when it
        /// has not), else as `waiting`.
        case remembered(
            immediate: @Sendable (ParsedRequest, HandlerContext, Backends) -> Response?,
            waiting: @Sendable (ParsedRequest, HandlerContext, Backends) async -> Response)
    }

    let path: Path
    /// How logs name the route: `callback`, `feed.json`, `media/`.
    let name: String
    let methods: [String]
    /// The name the query must hold, with a value, for this route; nil for any query.
    let queryHas: String?
    let handler: Handler

    init(_ path: Path, methods: [String] = ["GET", "HEAD"], queryHas: String? = nil, _ handler: Handler) {
        self.path = path
        switch (path, queryHas) {
        case (.page, "code"?): name = "callback"
        case (.page, let key?): name = "page?\(key)"
        case (.page, nil): name = "page"
        case (.file(let file), _): name = file
        case (.folder(let folder), _): name = folder + "/"
        }
        self.methods = methods
        self.queryHas = queryHas
        self.handler = handler
    }
}
