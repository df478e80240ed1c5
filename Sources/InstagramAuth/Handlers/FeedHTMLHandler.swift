import FastCGI
import Foundation
import InstagramAPI

/// `feed.html`: the feed as HTML without script, from the `feed` template, for an nginx SSI include or an
/// iframe (framed only by `INSTAGRAM_AUTH_FEED_FRAME_ANCESTORS`). When there is nothing to show, the answer
/// is an HTML comment that says why, so that a page including it shows nothing broken.
enum FeedHTMLHandler {
    /// The answer from memory, when this process answered the same request a moment ago.
    static func remembered(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) -> Response? {
        guard let kept = backends.rendered.recent(FeedHandler.key(request, kind: "html"), now: Date()) else { return nil }
        return FeedHandler.cached(kept.answer, of: kept.found, to: request, headers: headers(context))
    }

    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let headers = self.headers(context)
        let asked = Date()
        switch await FeedLookup(context: context, backends: backends).find(request.query) {
        case .failure(let problem):
            // Escaped, and with no "--" left in it (escaping "-" too), so the text cannot end the comment.
            let text = HTMLEscaping.escape(problem.message).replacingOccurrences(of: "-", with: "&#45;")
            let note = "<!-- instagram feed: \(text) -->\n"
            return Response(status: problem.status, headers: headers + [("Cache-Control", "no-store")], body: Array(note.utf8))
        case .success(let found):
            let rendered = backends.rendered.answer("html", for: found) { html(found, context).map { Array($0.utf8) } }
            guard let answer = rendered else {
                return Response.plain(500, "The feed template does not parse; `instagram-auth check` says why.\n")
            }
            backends.rendered.remember(FeedHandler.key(request, kind: "html"), answer, for: found, checkedAt: asked)
            return FeedHandler.cached(answer, of: found, to: request, headers: headers)
        }
    }

    /// The `feed` template filled in with the copy's posts; nil when the templates do not parse.
    private static func html(_ found: FeedLookup.Found, _ context: HandlerContext) -> String? {
        let media = FeedDocument.items(of: found.feed, logger: context.logger)
        let posts: [[String: Any]] = media.prefix(found.limit ?? media.count).map { item in
            var post: [String: Any] = ["kind": item.mediaType.lowercased(), "id": item.id]
            if let permalink = item.permalink { post["permalink"] = permalink }
            if let image = item.imageURL { post["image"] = image }
            if let caption = item.caption, !caption.isEmpty { post["caption"] = caption }
            if let timestamp = item.timestamp { post["timestamp"] = timestamp }
            let firstLine = item.caption?.split(whereSeparator: \.isNewline).first.map { String($0.prefix(120)) }
            post["alt"] = firstLine ?? "Instagram post by \(found.owner.displayName)"
            return post
        }
        var values: [String: Any] = ["posts": posts, "stale": found.stale]
        if let username = found.owner.username { values["username"] = username }
        return context.pages.fragment("feed", values: values)
    }

    /// HTML that may be framed only where the configuration says, that runs no script and loads only images.
    private static func headers(_ context: HandlerContext) -> [(name: String, value: String)] {
        let ancestors = context.configuration.feed.frameAncestors
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "text/html; charset=utf-8"), ("Referrer-Policy", "no-referrer"),
            (
                "Content-Security-Policy",
                "default-src 'none'; img-src 'self' https:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors "
                    + (ancestors.isEmpty ? "'none'" : ancestors.joined(separator: " "))
            ),
        ]
        if ancestors.isEmpty { headers.append(("X-Frame-Options", "DENY")) }
        return headers
    }
}
