import FastCGI

/// `media/<name>`: a copy of a feed image. A name is the image's digest, so what it shows never changes:
/// cached for a year, and revalidated by that name.
enum MediaHandler {
    /// The folder below the page's where the copies are served.
    static let folder = "media"

    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let name = String((request.path ?? "").dropFirst(folder.count + 1))
        let media = context.configuration.feed.media
        guard MediaFolder.format(ofName: name) != nil else { return context.page(for: .notFound) }
        let etag = "\"\(name.prefix { $0 != "." })\""
        let headers: [(name: String, value: String)] = [
            ("ETag", etag), ("Cache-Control", "public, max-age=31536000, immutable"), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'"),
        ]
        // The name is the image's digest: a client that has it needs nothing read.
        if FeedDocument.matches(request.request.headers["if-none-match"], etag), media.contains(name) {
            return Response(status: 304, headers: headers)
        }
        guard let (bytes, format) = media.read(name) else { return context.page(for: .notFound) }
        return Response(status: 200, headers: [("Content-Type", format.contentType)] + headers, body: bytes)
    }
}
