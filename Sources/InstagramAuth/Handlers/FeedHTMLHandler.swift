import FastCGI
import Foundation
import InstagramAPI

/// `feed.html`: the feed as HTML without script, from the `feed` template, for an nginx SSI include or an
/// iframe (framed only by `INSTAGRAM_AUTH_FEED_FRAME_ANCESTORS`). When there is nothing to show, the answer
/// is an HTML comment that says why, so that a page including it shows nothing broken.
enum FeedHTMLHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let headers = self.headers(context)
        switch await FeedLookup(context: context, backends: backends).find(request.query) {
        case .failure(let problem):
            let note = "<!-- instagram feed: \(HTMLEscaping.escape(problem.message).replacingOccurrences(of: "--", with: "- -")) -->\n"
            return Response(status: problem.status, headers: headers + [("Cache-Control", "no-store")], body: Array(note.utf8))
        case .success(let found):
            let media = (try? JSONDecoder().decode([MediaItem].self, from: Data(found.feed.media.utf8))) ?? []
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
            guard let html = context.pages.fragment("feed", values: values) else {
                return Response.plain(500, "The feed template does not parse; `instagram-auth check` says why.\n")
            }
            let body = Array(html.utf8)
            return FeedHandler.cached(body, etag: FeedDocument.etag(of: body), of: found, to: request, headers: headers)
        }
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
