import Foundation

/// One post of an account's media, as Graph's `/me/media` gives it, with Graph's field names. Only what a
/// site shows is kept; URLs that are not http(s) are dropped, so no `javascript:` link reaches a page.
public struct MediaItem: MediaImage, Sendable, Codable, Equatable {
    public var id: String
    public var caption: String?
    /// `IMAGE`, `VIDEO` or `CAROUSEL_ALBUM`.
    public var mediaType: String
    public var mediaURL: String?
    /// A video's poster frame.
    public var thumbnailURL: String?
    public var permalink: String?
    /// As Graph writes it: `2026-12-02T10:00:00+0000`.
    public var timestamp: String?
    public var username: String?
    /// A carousel's items, as Graph nests them: `{"data": [...]}`.
    public var children: Children?
    /// Instagram's own URLs, kept beside `media_url` and `thumbnail_url` when those point at this site's copies.
    public var instagramMediaURL: String?
    public var instagramThumbnailURL: String?

    public struct Children: Sendable, Codable, Equatable {
        public var data: [MediaChild]
        public init(data: [MediaChild]) { self.data = data }
    }

    enum CodingKeys: String, CodingKey {
        case id, caption, permalink, timestamp, username, children
        case mediaType = "media_type"
        case mediaURL = "media_url"
        case thumbnailURL = "thumbnail_url"
        case instagramMediaURL = "instagram_media_url"
        case instagramThumbnailURL = "instagram_thumbnail_url"
    }

    public init(
        id: String, caption: String? = nil, mediaType: String, mediaURL: String? = nil, thumbnailURL: String? = nil, permalink: String? = nil,
        timestamp: String? = nil, username: String? = nil, children: [MediaChild]? = nil
    ) {
        self.id = id
        self.caption = caption
        self.mediaType = mediaType
        self.mediaURL = mediaURL
        self.thumbnailURL = thumbnailURL
        self.permalink = permalink
        self.timestamp = timestamp
        self.username = username
        self.children = children.map(Children.init)
    }

    /// The fields asked of `/me/media`, children's included.
    public static let graphFields =
        "id,caption,media_type,media_url,thumbnail_url,permalink,timestamp,username,children{id,media_type,media_url,thumbnail_url}"
}

/// One item of a carousel.
public struct MediaChild: MediaImage, Sendable, Codable, Equatable {
    public var id: String
    public var mediaType: String
    public var mediaURL: String?
    public var thumbnailURL: String?
    public var instagramMediaURL: String?
    public var instagramThumbnailURL: String?

    enum CodingKeys: String, CodingKey {
        case id
        case mediaType = "media_type"
        case mediaURL = "media_url"
        case thumbnailURL = "thumbnail_url"
        case instagramMediaURL = "instagram_media_url"
        case instagramThumbnailURL = "instagram_thumbnail_url"
    }

    public init(id: String, mediaType: String, mediaURL: String? = nil, thumbnailURL: String? = nil) {
        self.id = id
        self.mediaType = mediaType
        self.mediaURL = mediaURL
        self.thumbnailURL = thumbnailURL
    }
}

/// What a post and a carousel item share: a media type, the URLs of its media and poster frame, and Instagram's own
/// URLs kept beside them once they point at this site's copies.
public protocol MediaImage {
    var id: String { get }
    /// `IMAGE`, `VIDEO` or `CAROUSEL_ALBUM`.
    var mediaType: String { get }
    var mediaURL: String? { get set }
    /// A video's poster frame.
    var thumbnailURL: String? { get set }
    var instagramMediaURL: String? { get set }
    var instagramThumbnailURL: String? { get set }
}

extension MediaImage {
    /// The image that stands for it: a video's poster frame, else its own media.
    public var imageURL: String? { mediaType == "VIDEO" ? thumbnailURL : mediaURL }

    /// Points the image at `url` (a copy), keeping Instagram's URL beside it.
    public mutating func pointImage(at url: String) {
        if mediaType == "VIDEO" {
            (instagramThumbnailURL, thumbnailURL) = (thumbnailURL, url)
        } else {
            (instagramMediaURL, mediaURL) = (mediaURL, url)
        }
    }

    /// Only the URLs that start with `prefix` (this site's copies), without Instagram's.
    public mutating func keepOnlyURLs(startingWith prefix: String) {
        func local(_ url: String?) -> String? { url.flatMap { $0.hasPrefix(prefix) ? $0 : nil } }
        (mediaURL, thumbnailURL, instagramMediaURL, instagramThumbnailURL) = (local(mediaURL), local(thumbnailURL), nil, nil)
    }
}

/// One page of `/me/media`: its items, and the cursor of the next page when there is one.
public struct MediaPage: Sendable, Equatable {
    public var items: [MediaItem]
    public var after: String?
}

extension ResponseDecoder {
    /// Graph's longest ids and cursors are far below these; anything longer is not Graph's.
    static let maxIDLength = 64
    static let maxCursorLength = 512
    static let maxCaptionLength = 4096
    static let maxURLLength = 4096

    /// Decodes one page of `/me/media`. An item without an id or a media type is garbage, and so is the page.
    public static func mediaPage(status: Int, body: [UInt8]) throws(InstagramError) -> MediaPage {
        let json = try object(status: status, body: body)
        guard case .array(let entries)? = json["data"] else {
            throw .unexpectedResponse(status: status, detail: "no data list in the media answer")
        }
        var items: [MediaItem] = []
        for entry in entries {
            guard let id = identifier(entry["id"]), let type = mediaType(entry["media_type"]) else {
                throw .unexpectedResponse(status: status, detail: "a media item without an id or a media type")
            }
            var children: [MediaChild]?
            if case .array(let parts)? = entry["children"]?["data"] {
                children = parts.compactMap { part in
                    guard let id = identifier(part["id"]), let type = mediaType(part["media_type"]) else { return nil }
                    return MediaChild(id: id, mediaType: type, mediaURL: link(part["media_url"]), thumbnailURL: link(part["thumbnail_url"]))
                }
            }
            items.append(
                MediaItem(
                    id: id, caption: entry["caption"]?.string.map { String($0.prefix(maxCaptionLength)) }, mediaType: type,
                    mediaURL: link(entry["media_url"]), thumbnailURL: link(entry["thumbnail_url"]), permalink: link(entry["permalink"]),
                    timestamp: entry["timestamp"]?.string.flatMap { $0.count <= 40 ? $0 : nil },
                    username: entry["username"]?.string.flatMap { $0.count <= 64 ? $0 : nil }, children: children))
        }
        var after: String?
        if json["paging"]?["next"] != nil, let cursor = json["paging"]?["cursors"]?["after"]?.string, !cursor.isEmpty,
            cursor.count <= maxCursorLength
        {
            after = cursor
        }
        return MediaPage(items: items, after: after)
    }

    private static func identifier(_ value: JSONValue?) -> String? {
        guard let id = value?.identifier, id.count <= maxIDLength, id.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return id
    }

    private static func mediaType(_ value: JSONValue?) -> String? {
        guard let type = value?.string, !type.isEmpty, type.count <= 32, type.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x5F }) else {
            return nil
        }
        return type
    }

    /// An http(s) URL, or nothing.
    private static func link(_ value: JSONValue?) -> String? {
        guard let text = value?.string, text.count <= maxURLLength else { return nil }
        let lower = text.prefix(8).lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://") else { return nil }
        return text
    }
}

extension InstagramClient {
    /// The bytes behind a media URL (Instagram's CDN), at most `maxBytes` of them; anything but a 200 is an error.
    public func download(_ url: String, maxBytes: Int) async throws(InstagramError) -> [UInt8] {
        let reply = try await transport.send(OutgoingRequest(.image, method: .get, url: url, maxBodyBytes: maxBytes))
        guard reply.status == 200 else { throw .unexpectedResponse(status: reply.status, detail: "the media URL answered HTTP \(reply.status)") }
        return reply.body
    }

    /// Pages a fetch follows at most: a cursor that never ends stops here.
    public static let maxMediaPages = 10

    /// The account's latest media, newest first, up to `limit` items: follows the paging cursors with URLs of its
    /// own (Graph's `next` carries the token, and is never followed as given).
    public func media(accessToken: String, limit: Int) async throws(InstagramError) -> [MediaItem] {
        var items: [MediaItem] = []
        var after: String?
        var seen: Set<String> = []
        for _ in 0..<Self.maxMediaPages {
            var fields = [("fields", MediaItem.graphFields), ("limit", String(min(limit - items.count, 100))), ("access_token", accessToken)]
            if let after { fields.append(("after", after)) }
            let reply = try await transport.send(
                OutgoingRequest(.media, method: .get, url: "\(endpoints.graphBaseURL)/me/media?\(FormEncoding.encode(fields))"))
            let page = try ResponseDecoder.mediaPage(status: reply.status, body: reply.body)
            for item in page.items where items.count < limit && seen.insert(item.id).inserted { items.append(item) }
            guard items.count < limit, let next = page.after, !page.items.isEmpty else { break }
            after = next
        }
        return items
    }
}
