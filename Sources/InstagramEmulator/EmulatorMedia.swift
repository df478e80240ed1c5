import Foundation

/// The account's media as Graph serves it: `/me/media` with the fields asked for and paging cursors,
/// `/{media-id}/children` for carousels, and media URLs signed to stop working after a while, as the CDN's do.
extension Emulator {
    public static let defaultMediaCount = 30
    static let mediaTypes = ["IMAGE", "VIDEO", "CAROUSEL_ALBUM"]

    /// One post: every third an image, a video, a carousel of three; the first caption holds markup.
    struct Post {
        let index: Int
        let id: String
        let type: String

        init(_ index: Int) {
            self.index = index
            id = "1790000000\(String(format: "%07d", index))"
            type = Emulator.mediaTypes[index % Emulator.mediaTypes.count]
        }

        var caption: String? {
            switch index {
            case 0: #"Sunrise <b>over</b> the "bay" & <script>alert(1)</script> 🌅"#
            case _ where index % 5 == 4: nil
            default: "Post number \(index)"
            }
        }

        var children: [(id: String, type: String)] {
            guard type == "CAROUSEL_ALBUM" else { return [] }
            return (0..<3).map { ("1791000000\(String(format: "%05d", index))\($0)", $0 == 1 ? "VIDEO" : "IMAGE") }
        }
    }

    func media(_ query: [String: String]) -> Action {
        guard case .success = validToken(query["access_token"]) else { return invalidToken() }
        if let code = lock.withLock({ mediaErrorCode }) { return mediaError(code) }
        let (count, pageSize) = lock.withLock { (mediaCount, mediaPageSize) }
        let limit = min(max(Int(query["limit"] ?? "") ?? 25, 1), pageSize)
        let start = query["after"].flatMap(Self.cursorIndex) ?? 0
        let end = min(start + limit, count)
        let fields = Self.fields(query["fields"] ?? "id")
        let items = (start < end ? Array(start..<end) : []).map { object(Post($0), fields: fields) }
        var paging = ""
        if start < end {
            var cursors = #""cursors":{"before":"\#(Self.cursor(start))","after":"\#(Self.cursor(end))"}"#
            if end < count {
                var next = query
                next["after"] = Self.cursor(end)
                let encoded = next.sorted { $0.key < $1.key }.map { "\(Self.percent($0.key))=\(Self.percent($0.value))" }
                cursors += #","next":"\#(Self.jsonEscape("\(lock.withLock { mediaBaseURL })/me/media?\(encoded.joined(separator: "&"))"))""#
            }
            paging = #","paging":{\#(cursors)}"#
        }
        return json(200, #"{"data":[\#(items.joined(separator: ","))]\#(paging)}"#)
    }

    func children(of mediaID: String, _ query: [String: String]) -> Action {
        guard case .success = validToken(query["access_token"]) else { return invalidToken() }
        let count = lock.withLock { mediaCount }
        guard let post = (0..<count).lazy.map(Post.init).first(where: { $0.id == mediaID }) else {
            return graphError(status: 400, message: "Unsupported get request. Object with ID '\(mediaID)' does not exist", code: 100, type: "IGApiException")
        }
        let fields = Self.fields(query["fields"] ?? "id").top
        let items = post.children.map { child(post, $0, fields: fields) }
        return json(200, #"{"data":[\#(items.joined(separator: ","))]}"#)
    }

    /// One post's JSON object with the fields asked for (`id` always), children expanded when asked.
    func object(_ post: Post, fields: (top: [String], children: [String]?)) -> String {
        var members = [#""id":"\#(post.id)""#]
        for field in fields.top where field != "id" {
            switch field {
            case "caption": if let caption = post.caption { members.append(#""caption":"\#(Self.jsonEscape(caption))""#) }
            case "media_type": members.append(#""media_type":"\#(post.type)""#)
            case "media_url": members.append(#""media_url":"\#(mediaURL(post.id, video: post.type == "VIDEO"))""#)
            case "thumbnail_url": if post.type == "VIDEO" { members.append(#""thumbnail_url":"\#(mediaURL(post.id, video: false))""#) }
            case "permalink": members.append(#""permalink":"https://www.instagram.com/p/EMU\#(post.index)/""#)
            case "timestamp": members.append(#""timestamp":"\#(Self.timestamp(newestPost - TimeInterval(post.index * 3600)))""#)
            case "username": members.append(#""username":"\#(user.username)""#)
            default: break
            }
        }
        if let childFields = fields.children, !post.children.isEmpty {
            let items = post.children.map { child(post, $0, fields: childFields) }
            members.append(#""children":{"data":[\#(items.joined(separator: ","))]}"#)
        }
        return "{\(members.joined(separator: ","))}"
    }

    func child(_ post: Post, _ child: (id: String, type: String), fields: [String]) -> String {
        var members = [#""id":"\#(child.id)""#]
        for field in fields {
            switch field {
            case "media_type": members.append(#""media_type":"\#(child.type)""#)
            case "media_url": members.append(#""media_url":"\#(mediaURL(child.id, video: child.type == "VIDEO"))""#)
            case "thumbnail_url": if child.type == "VIDEO" { members.append(#""thumbnail_url":"\#(mediaURL(child.id, video: false))""#) }
            default: break
            }
        }
        return "{\(members.joined(separator: ","))}"
    }

    /// A CDN-style URL that carries its expiry (`oe=`, hexadecimal seconds) as Instagram's do.
    func mediaURL(_ id: String, video: Bool) -> String {
        let expiry = String(Int((now() + lock.withLock { mediaURLLifetime }).timeIntervalSince1970), radix: 16)
        return "\(lock.withLock { mediaBaseURL })/_cdn/\(id).\(video ? "mp4" : "jpg")?oe=\(expiry)"
    }

    /// The fields parameter read as Graph does: a list, with `children{…}` naming the children's fields.
    static func fields(_ text: String) -> (top: [String], children: [String]?) {
        var top: [String] = []
        var children: [String]?
        var depth = 0
        var current = ""
        for character in text + "," {
            switch character {
            case "{": depth += 1; current.append(character)
            case "}": depth -= 1; current.append(character)
            case "," where depth == 0:
                let field = current.trimmingCharacters(in: .whitespaces)
                if field.hasPrefix("children{"), field.hasSuffix("}") {
                    children = field.dropFirst("children{".count).dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                } else if !field.isEmpty {
                    top.append(field)
                }
                current = ""
            default: current.append(character)
            }
        }
        return (top, children)
    }

    static func cursor(_ index: Int) -> String { Data("index:\(index)".utf8).base64EncodedString() }

    static func cursorIndex(_ cursor: String) -> Int? {
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8), text.hasPrefix("index:") else { return nil }
        return Int(text.dropFirst("index:".count))
    }

    /// Graph's timestamp form: `2026-12-02T10:00:00+0000`.
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        return formatter.string(from: date)
    }

    /// Graph's answer for `code`: the rate limits (4, 17, 32, 613) and an invalid token (190).
    func mediaError(_ code: Int) -> Action {
        switch code {
        case 190: invalidToken()
        case 4: graphError(status: 400, message: "Application request limit reached", code: 4, type: "OAuthException")
        case 17: graphError(status: 400, message: "User request limit reached", code: 17, type: "OAuthException")
        case 32: graphError(status: 400, message: "Page request limit reached", code: 32, type: "OAuthException")
        default: graphError(status: 400, message: "Calls to this api have exceeded the rate limit.", code: code, type: "OAuthException")
        }
    }

    /// `POST /_emulator/media?count=N&page_size=N&error=CODE&images=KIND&url_lifetime=S`: how many posts the
    /// account has, the most one page holds, a Graph error code (`none` for none) that `/me/media` answers with
    /// instead, what the CDN sends for an image, and how long media URLs work (0: expired when given).
    func setMedia(_ values: [String: String]) -> Action {
        if let text = values["images"] {
            guard let kind = ImageKind(rawValue: text) else {
                return json(400, #"{"error":"images must be one of \#(ImageKind.allCases.map(\.rawValue).joined(separator: ", "))"}"#)
            }
            lock.withLock { imageKind = kind }
        }
        if let text = values["url_lifetime"] {
            guard let seconds = Int(text), seconds >= 0 else { return json(400, #"{"error":"url_lifetime must be whole seconds"}"#) }
            lock.withLock { mediaURLLifetime = TimeInterval(seconds) }
        }
        if let text = values["page_size"] {
            guard let size = Int(text), (1...100).contains(size) else { return json(400, #"{"error":"page_size must be from 1 to 100"}"#) }
            lock.withLock { mediaPageSize = size }
        }
        if let text = values["count"] {
            guard let count = Int(text), (0...10_000).contains(count) else { return json(400, #"{"error":"count must be from 0 to 10000"}"#) }
            lock.withLock { mediaCount = count }
        }
        if let text = values["error"] {
            guard text == "none" || Int(text) != nil else { return json(400, #"{"error":"error must be a Graph code or none"}"#) }
            lock.withLock { mediaErrorCode = Int(text) }
        }
        let (count, code) = lock.withLock { (mediaCount, mediaErrorCode) }
        return json(200, #"{"count":\#(count),"error":\#(code.map(String.init) ?? "null")}"#)
    }

    /// Where media URLs point: the first server that serves this emulator.
    public func serveMedia(at baseURL: String) {
        lock.withLock { if mediaBaseURL.hasPrefix("https://scontent.") { mediaBaseURL = baseURL } }
    }
}
