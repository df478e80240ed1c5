import FastCGI
import Foundation

/// `feed.json`: the account's cached posts as JSON shaped like Graph's `/me/media`, with validators for
/// revalidation, caching for the copy's remaining freshness, and CORS only for the listed origins.
enum FeedHandler {
    /// The answer from memory, when this process answered the same request a moment ago.
    static func remembered(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) -> Response? {
        guard let kept = backends.rendered.recent(key(request), now: Date()) else { return nil }
        let origin = context.configuration.feed.allowedOrigin(request.request.headers["origin"])
        return cached(
            kept.answer, of: kept.found, to: request, headers: [("Content-Type", "application/json; charset=utf-8")] + corsHeaders(origin, context))
    }

    /// What the answer to a request depends on besides the store: its kind and its query.
    static func key(_ request: ParsedRequest, kind: String = "json") -> String {
        "\(kind)\u{0}\(request.query["account"] ?? "")\u{0}\(request.query["limit"] ?? "")"
    }

    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let origin = context.configuration.feed.allowedOrigin(request.request.headers["origin"])
        let asked = Date()
        switch await FeedLookup(context: context, backends: backends).find(request.query) {
        case .failure(let problem):
            var response = MetaCallback.json(problem.status, ["error": problem.error, "message": problem.message])
            if let wait = problem.retryAfter { response.headers.append(("Retry-After", "\(wait)")) }
            response.headers += corsHeaders(origin, context)
            return response
        case .success(let found):
            let rendered = backends.rendered.answer("json", for: found) {
                FeedDocument(feed: found.feed, owner: found.owner, limit: found.limit, stale: found.stale).body
            }
            guard let answer = rendered else { return Response.plain(500, "The feed could not be rendered.\n") }
            backends.rendered.remember(key(request), answer, for: found, checkedAt: asked)
            return cached(answer, of: found, to: request, headers: [("Content-Type", "application/json; charset=utf-8")] + corsHeaders(origin, context))
        }
    }

    /// A copy's answer: validators, caching for its remaining freshness, and a 304 when the client has it.
    static func cached(
        _ answer: RenderedFeeds.Answer, of found: FeedLookup.Found, to request: ParsedRequest, headers extra: [(name: String, value: String)]
    ) -> Response {
        var headers: [(name: String, value: String)] = [
            ("ETag", answer.etag), ("Cache-Control", "public, max-age=\(found.maxAge)"), ("X-Content-Type-Options", "nosniff"),
        ]
        if let lastModified = answer.lastModified { headers.append(("Last-Modified", lastModified)) }
        if FeedDocument.matches(request.request.headers["if-none-match"], answer.etag) {
            return Response(status: 304, headers: headers + extra.filter { $0.name != "Content-Type" })
        }
        return Response(status: 200, headers: extra + headers, body: answer.body)
    }

    /// CORS for a listed origin; `Vary: Origin` whenever the answer depends on it.
    private static func corsHeaders(_ allowed: String?, _ context: HandlerContext) -> [(name: String, value: String)] {
        guard !context.configuration.feed.origins.isEmpty else { return [] }
        var headers: [(name: String, value: String)] = [("Vary", "Origin")]
        if let allowed { headers.append(("Access-Control-Allow-Origin", allowed)) }
        return headers
    }
}
