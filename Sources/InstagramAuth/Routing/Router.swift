import Accounts
import FastCGI
import Foundation
import InstagramAPI
import Logging

/// Answers every request below the page's folder from the route table.
public struct Router: Responder {
    public let context: HandlerContext
    public var configuration: Configuration { context.configuration }
    private let backends: Backends?
    /// The redirect URI's path up to its last `/`, and what follows it (often nothing).
    private let folder: String
    private let pageName: String

    /// The router for a responder: every route can be answered. `server` is the FastCGI server's activity, for the
    /// status page; nil in CGI mode.
    public init(
        configuration: Configuration, transport: any HTTPTransport, store: any AccountStore, pages: Pages, server: ServerActivity? = nil,
        logger: Logger
    ) {
        let context = HandlerContext(configuration: configuration, pages: pages, logger: logger)
        self.init(
            context: context,
            backends: Backends(
                configuration: configuration, transport: transport, store: store, recentImages: context.recentImages,
                monitoring: Monitoring(server: server), logger: logger))
    }

    /// A router that answers only the routes that need no I/O (CGI mode, before it opens anything):
    /// `respond(to:)` on any other route is a programming error.
    public init(configuration: Configuration, pages: Pages, logger: Logger) {
        self.init(context: HandlerContext(configuration: configuration, pages: pages, logger: logger), backends: nil)
    }

    private init(context: HandlerContext, backends: Backends?) {
        self.context = context
        self.backends = backends
        let path = context.configuration.redirectPath
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        folder = String(path[...slash])
        pageName = String(path[path.index(after: slash)...])
    }

    /// The route table's answer to `request`, the request parsed once for it, and the route's name. One pass over the
    /// table, with nothing allocated unless the answer is a 405.
    func route(_ request: Request) -> (ParsedRequest, Route.Handler, name: String) {
        let parsed = ParsedRequest(request, folder: folder, pageName: pageName, cookie: context.cookie)
        var pathKnown = false
        var methodKnown = false
        for route in RouteTable.routes where matches(route.path, parsed.path) {
            pathKnown = true
            guard route.methods.contains(parsed.method) else { continue }
            methodKnown = true
            if route.queryHas.map(parsed.query.has) ?? true { return (parsed, route.handler, route.name) }
        }
        // An unknown path, or a known path and method whose query no route takes (a table without a catch-all entry).
        guard pathKnown, !methodKnown else { return (parsed, .immediate(Self.notFound), "not found") }
        var allow: [String] = []
        for route in RouteTable.routes where matches(route.path, parsed.path) {
            for method in route.methods where !allow.contains(method) { allow.append(method) }
        }
        let methods = allow
        return (parsed, .immediate { _, context in Self.methodNotAllowed(allow: methods, context) }, "method not allowed")
    }

    private func matches(_ routePath: Route.Path, _ path: String?) -> Bool {
        guard let path else { return false }
        switch routePath {
        case .page: return path == pageName || path.isEmpty
        case .file(let name): return path == name
        case .folder(let name):
            let inside = path.utf8.dropFirst(name.utf8.count)
            return path.hasPrefix(name) && inside.first == UInt8(ascii: "/") && inside.count > 1
        }
    }

    public func answer(to request: Request) -> Answer {
        let (parsed, handler, name) = route(request)
        switch handler {
        case .immediate(let handler):
            return .ready(handler(parsed, context))
        case .reading(let remembered, let read):
            if let response = remembered(parsed, context) { return .ready(response) }
            return .reading { [context] in read(parsed, context) }
        case .remembered(let remembered, let waiting):
            if let backends, let response = remembered(parsed, context, backends) { return .ready(response) }
            return .waiting { await self.wait(for: waiting, parsed, route: name) }
        case .waiting(let waiting):
            return .waiting { await self.wait(for: waiting, parsed, route: name) }
        }
    }

    /// A waiting handler's answer, timed: one slower than the configured limit is logged with where its time went.
    private func wait(
        for handler: @Sendable (ParsedRequest, HandlerContext, Backends) async -> Response, _ parsed: ParsedRequest, route name: String
    ) async -> Response {
        guard let backends else { preconditionFailure("a router without the store and Instagram was asked to wait on them") }
        let timeline = Timeline()
        let started = ContinuousClock.now
        let response = await Timeline.$current.withValue(timeline) { await handler(parsed, context, backends) }
        let seconds = Timeline.seconds(since: started)
        if seconds >= configuration.monitoring.slowRequestSeconds {
            backends.monitoring.slowRequests.wrappingAdd(1, ordering: .relaxed)
            context.logger.warning(
                "slow request",
                metadata: [
                    "route": "\(name)", "method": "\(parsed.method)", "status": "\(response.status)",
                    "seconds": "\(Timeline.format(seconds))", "where": "\(timeline.summary)",
                ])
        }
        return response
    }

    /// Waits for the work a request left running in the background (a feed fetch, the change hook): CGI mode does this after
    /// answering, before the process exits.
    public func finishBackgroundWork() async {
        await backends?.feeds.waitForAll()
        await backends?.hook.waitForAll()
    }

    private static func notFound(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        context.page(for: .notFound)
    }

    private static func methodNotAllowed(allow methods: [String], _ context: HandlerContext) -> Response {
        var response = context.page(for: .methodNotAllowed(allow: methods))
        response.headers.append(("Allow", methods.joined(separator: ", ")))
        return response
    }
}
