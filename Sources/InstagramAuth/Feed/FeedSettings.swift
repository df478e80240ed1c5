import Foundation

/// How the cached feed behaves: how many items it keeps, how long a copy is fresh, and which other sites'
/// pages may read `feed.json`.
public struct FeedSettings: Sendable, Equatable {
    /// Items kept per account (`INSTAGRAM_AUTH_FEED_SIZE`, 1–100).
    public var size: Int
    /// Seconds a copy is fresh (`INSTAGRAM_AUTH_FEED_TTL`); a visit to an older one fetches anew in the background.
    public var ttlSeconds: Int
    /// Origins whose pages may read `feed.json` (`INSTAGRAM_AUTH_FEED_ORIGINS`), as browsers send them
    /// (`https://example.com`); `*` for any. Empty: the site's own pages only.
    public var origins: Set<String>
    /// Where copies of the feed's images are kept (`INSTAGRAM_AUTH_MEDIA_DIR`).
    public var media: MediaFolder
    /// Origins whose pages may frame `feed.html` (`INSTAGRAM_AUTH_FEED_FRAME_ANCESTORS`); empty: none may.
    public var frameAncestors: [String] = []

    public static let defaultSize = 24
    public static let maxSize = 100
    public static let defaultTTLSeconds = 900

    /// Without a SQLite file to put it beside.
    public static let defaultMediaDirectory = "/var/lib/instagram-auth/media"

    public init(size: Int = defaultSize, ttlSeconds: Int = defaultTTLSeconds, origins: Set<String> = [], media: MediaFolder) {
        self.size = size
        self.ttlSeconds = ttlSeconds
        self.origins = origins
        self.media = media
    }

    init(_ source: Source, database: DatabaseLocation) throws(ConfigurationError) {
        let sizeText = source.value("INSTAGRAM_AUTH_FEED_SIZE") ?? String(Self.defaultSize)
        guard let size = Int(sizeText), (1...Self.maxSize).contains(size) else {
            throw ConfigurationError("INSTAGRAM_AUTH_FEED_SIZE", "must be a whole number of media items from 1 to \(Self.maxSize), not \(sizeText.debugDescription)")
        }
        let ttlText = source.value("INSTAGRAM_AUTH_FEED_TTL") ?? String(Self.defaultTTLSeconds)
        guard let ttl = Int(ttlText), (10...604_800).contains(ttl) else {
            throw ConfigurationError("INSTAGRAM_AUTH_FEED_TTL", "must be whole seconds from 10 to 604800 (a week), not \(ttlText.debugDescription)")
        }
        let origins = Set(try Self.origins(source, "INSTAGRAM_AUTH_FEED_ORIGINS", anyAllowed: true))
        let ancestors = try Self.origins(source, "INSTAGRAM_AUTH_FEED_FRAME_ANCESTORS", anyAllowed: false)
        let media: String
        if let directory = source.value("INSTAGRAM_AUTH_MEDIA_DIR") {
            guard directory.hasPrefix("/") else { throw ConfigurationError("INSTAGRAM_AUTH_MEDIA_DIR", "must be an absolute path, not \(directory.debugDescription)") }
            media = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        } else if case .sqlite(let path) = database {
            media = (path as NSString).deletingLastPathComponent + "/media"
        } else {
            media = Self.defaultMediaDirectory
        }
        self.init(size: size, ttlSeconds: ttl, origins: origins, media: MediaFolder(path: media))
        frameAncestors = ancestors
    }

    /// Whether a copy fetched at `fetchedAt` is older than the TTL at `now`.
    public func isStale(fetchedAt: Date?, now: Date = Date()) -> Bool {
        guard let fetchedAt else { return true }
        return now.timeIntervalSince(fetchedAt) >= TimeInterval(ttlSeconds)
    }

    /// The origins listed under `key`, lower-cased; `*` among them only where `anyAllowed`.
    private static func origins(_ source: Source, _ key: String, anyAllowed: Bool) throws(ConfigurationError) -> [String] {
        var origins: [String] = []
        for item in (source.value(key) ?? "").split(whereSeparator: { $0 == "," || $0 == " " }) {
            let origin = String(item)
            guard (anyAllowed && origin == "*") || isOrigin(origin) else {
                throw ConfigurationError(
                    key, "\(origin.debugDescription) is not an origin: write scheme://host[:port] with no path, such as https://www.example.com\(anyAllowed ? ", or * for any" : "")")
            }
            if !origins.contains(origin.lowercased()) { origins.append(origin.lowercased()) }
        }
        return origins
    }

    /// `scheme://host[:port]` and nothing more: what a browser sends as `Origin`.
    static func isOrigin(_ text: String) -> Bool {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty, url.path.isEmpty, url.query == nil, url.fragment == nil, url.user == nil
        else { return false }
        return true
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, or nil when it may not read the feed.
    func allowedOrigin(_ origin: String?) -> String? {
        guard let origin, !origins.isEmpty else { return nil }
        if origins.contains(origin.lowercased()) { return origin }
        return origins.contains("*") ? "*" : nil
    }
}

extension Configuration {
    /// Only where the feed's image copies are: what `forget` needs, without the app's keys.
    public static func mediaFolder(environment: [String: String], configFile: String? = nil) throws(ConfigurationError) -> MediaFolder {
        let source = try Source.load(environment: environment, configFile: configFile)
        return try FeedSettings(source, database: DatabaseLocation(source)).media
    }
}
