import FastCGI
import Foundation

/// `media/<name>`: a copy of a feed image. A name is the image's digest, so what it shows never changes:
/// cached for a year, and revalidated by that name.
enum MediaHandler {
    /// The folder below the page's where the copies are served.
    static let folder = "media"

    /// The answer from an image read a moment ago (`RecentImages`); nil when the file must be read.
    static func remembered(_ request: ParsedRequest, _ context: HandlerContext) -> Response? {
        let name = name(of: request)
        guard let image = context.recentImages.image(name, now: Date()) else { return nil }
        if request.request.headers["if-none-match"] != nil { return answer(request, name: name, image.answer) }
        return image.answer
    }

    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let name = name(of: request)
        let media = context.configuration.feed.media
        guard MediaFolder.format(ofName: name) != nil else { return context.page(for: .notFound) }
        // The name is the image's digest: a client that has it needs nothing read.
        if FeedDocument.matches(request.request.headers["if-none-match"], etag(name)), media.contains(name) {
            return Response(status: 304, headers: headers(name))
        }
        let readAt = Date()
        guard let (bytes, format) = media.read(name) else { return context.page(for: .notFound) }
        let whole = Response(status: 200, headers: [("Content-Type", format.contentType)] + headers(name), body: bytes)
        context.recentImages.remember(name, whole, readAt: readAt)
        return answer(request, name: name, whole)
    }

    /// `whole`, or a 304 when the request names its validator.
    private static func answer(_ request: ParsedRequest, name: String, _ whole: Response) -> Response {
        guard FeedDocument.matches(request.request.headers["if-none-match"], etag(name)) else { return whole }
        return Response(status: 304, headers: headers(name))
    }

    private static func name(of request: ParsedRequest) -> String {
        String((request.path ?? "").dropFirst(folder.count + 1))
    }

    private static func etag(_ name: String) -> String {
        "\"\(name.prefix { $0 != "." })\""
    }

    private static func headers(_ name: String) -> [(name: String, value: String)] {
        [
            ("ETag", etag(name)), ("Cache-Control", "public, max-age=31536000, immutable"), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'"),
        ]
    }
}
