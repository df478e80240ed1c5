import FastCGI

/// `media/<name>`: a copy of a feed image. A name is the image's digest, so what it shows never changes:
/// cached for a year, and revalidated by that name.
enum MediaHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let name = String((request.path ?? "").dropFirst("media/".count))
        guard let (bytes, format) = context.configuration.feed.media.read(name) else { return context.page(for: .notFound) }
        let etag = "\"\(name.prefix { $0 != "." })\""
        let headers: [(name: String, value: String)] = [
            ("ETag", etag), ("Cache-Control", "public, max-age=31536000, immutable"), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'"),
        ]
        if FeedDocument.matches(request.request.headers["if-none-match"], etag) { return Response(status: 304, headers: headers) }
        return Response(status: 200, headers: [("Content-Type", format.contentType)] + headers, body: bytes)
    }
}
