import Accounts
import Foundation
import InstagramAPI
import Logging

/// `feed.json`'s body, built from a stored copy: Graph's `{"data": [...]}` plus the account, when the copy
/// was fetched, and whether it is stale. Never a token, never a paging URL (the store keeps neither).
public struct FeedDocument: Sendable {
    public let body: [UInt8]

    public init(feed: StoredFeed, owner: FeedOwner, limit: Int?, stale: Bool) {
        var data = feed.media
        if let limit, case let items = Self.items(of: feed), items.count > limit {
            data = Self.encode(Array(items.prefix(limit)))
        }
        var account = #"{"id":\#(Self.quoted(owner.userID))"#
        if let username = owner.username { account += #","username":\#(Self.quoted(username))"# }
        account += "}"
        let updated = feed.fetchedAt.map { Self.quoted(Self.timestamp($0)) } ?? "null"
        body = Array(#"{"data":\#(data),"account":\#(account),"updated_at":\#(updated),"stale":\#(stale)}"#.utf8)
    }

    /// A strong validator of `body`: the first 16 bytes of its SHA-256 in hex, quoted.
    static func etag(of body: [UInt8]) -> String {
        "\"" + sha256Hex(body).prefix(32) + "\""
    }

    /// The items of a stored copy; none, said in the log, for a copy that does not decode (written by
    /// something else than this program).
    public static func items(of feed: StoredFeed, logger: Logger? = nil) -> [MediaItem] {
        do {
            return try JSONDecoder().decode([MediaItem].self, from: Data(feed.media.utf8))
        } catch {
            logger?.error("a stored feed does not decode; it is treated as empty", metadata: ["user_id": "\(feed.userID)", "error": "\(error)"])
            return []
        }
    }

    /// The items as the store keeps them: a JSON array with Graph's names, keys sorted, slashes unescaped.
    public static func encode(_ media: [MediaItem]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(media)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    /// RFC 3339 in UTC: `2026-12-02T10:00:00Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// The HTTP date of `Last-Modified`: `Wed, 02 Dec 2026 10:00:00 GMT`.
    static func httpDate(_ date: Date) -> String {
        Formatting.utc(date, "EEE, dd MMM yyyy HH:mm:ss 'GMT'")
    }

    /// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for it).
    static func matches(_ header: String?, _ etag: String) -> Bool {
        guard var header else { return false }
        return header.withUTF8 { bytes in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                // Optional whitespace around each tag is spaces and tabs (RFC 9110).
                var low = start
                var high = end
                while low < high && (bytes[low] == 0x20 || bytes[low] == 0x09) { low += 1 }
                while high > low && (bytes[high - 1] == 0x20 || bytes[high - 1] == 0x09) { high -= 1 }
                let tag = bytes[low..<high]
                if tag.elementsEqual("*".utf8) || tag.elementsEqual(etag.utf8)
                    || (tag.starts(with: "W/".utf8) && tag.dropFirst(2).elementsEqual(etag.utf8))
                {
                    return true
                }
                start = end + 1
            }
            return false
        }
    }
}
