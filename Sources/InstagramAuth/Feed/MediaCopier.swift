import Foundation
import InstagramAPI
import Logging

/// Copies a feed's images (photos, carousel items, videos' poster frames) into the media folder and points
/// the items at the copies, keeping Instagram's URLs beside them. An image whose URL expired, that is no
/// JPEG, PNG or WebP, or that is too large keeps Instagram's URL (or the copy made by an earlier fetch).
struct MediaCopier: Sendable {
    let folder: MediaFolder
    let client: InstagramClient
    /// Where the page serves the folder: `<page folder>/media/`.
    let baseURL: String
    let logger: Logger

    /// Copies made at once.
    static let parallelCopies = 4

    /// One image to copy: whose it is (a post's or a carousel item's id) and Instagram's URL.
    private struct Slot: Sendable {
        let id: String
        let url: String
    }

    /// `items` pointing at local copies, and the names of every copy they use; `earlier` is the copies the last copy of
    /// the feed used (`localNames`). Copies started after `deadline` are not made: those images keep Instagram's URLs
    /// until the next fetch.
    func copy(_ items: [MediaItem], userID: String, earlier: [String: String], until deadline: Date) async -> (items: [MediaItem], names: Set<String>) {
        var slots: [Slot] = []
        for item in items {
            if let url = item.imageURL { slots.append(Slot(id: item.id, url: url)) }
            for child in item.children?.data ?? [] {
                if let url = child.imageURL { slots.append(Slot(id: child.id, url: url)) }
            }
        }
        var room = MediaFolder.maxTotalBytes - folder.totalBytes()
        var copied: [String: String] = [:]
        // Instagram's URL changes with every answer; the post's image does not: an earlier copy is kept.
        for slot in slots { if let name = earlier[slot.id], folder.contains(name) { copied[slot.id] = name } }
        var failures: [String] = []
        var pending = slots.filter { copied[$0.id] == nil }[...]
        while !pending.isEmpty, Date() < deadline {
            let batch = pending.prefix(Self.parallelCopies)
            pending = pending.dropFirst(batch.count)
            let space = room
            let results = await withTaskGroup(of: (String, Result<(String, Int), InstagramError>).self) { group in
                for slot in batch { group.addTask { (slot.id, await copy(slot, userID: userID, room: space)) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (id, result) in results {
                switch result {
                case .success(let (name, size)):
                    copied[id] = name
                    room -= size
                case .failure(let error):
                    failures.append(error.description)
                }
            }
        }
        if let first = failures.first {
            logger.notice("feed images left on Instagram's CDN", metadata: ["count": "\(failures.count)", "first": "\(first)"])
        }
        return (items.map { pointed($0, at: copied) }, Set(copied.values))
    }

    private func copy(_ slot: Slot, userID: String, room: Int) async -> Result<(String, Int), InstagramError> {
        guard Self.isCopySource(slot.url, graphBaseURL: client.endpoints.graphBaseURL) else {
            return .failure(.unexpectedResponse(status: 0, detail: "an image URL off Instagram's CDN"))
        }
        do {
            let bytes = try await client.download(slot.url, maxBytes: MediaFolder.maxFileBytes)
            guard let format = ImageFormat(magic: bytes) else {
                return .failure(.unexpectedResponse(status: 200, detail: "an image that is no JPEG, PNG or WebP"))
            }
            guard bytes.count <= room else { return .failure(.unexpectedResponse(status: 200, detail: "the media folder is full")) }
            let name = MediaFolder.name(of: bytes, format: format, userID: userID)
            if !folder.contains(name) {
                do { try folder.write(bytes, as: name) } catch { return .failure(.unexpectedResponse(status: 200, detail: "\(error)")) }
            }
            return .success((name, bytes.count))
        } catch {
            return .failure(error)
        }
    }

    /// The item with each copied image's URL pointing at the copy, and Instagram's kept beside it.
    private func pointed(_ item: MediaItem, at copied: [String: String]) -> MediaItem {
        var item = item
        if let name = copied[item.id] { item.pointImage(at: baseURL + name) }
        if var children = item.children {
            for index in children.data.indices {
                if let name = copied[children.data[index].id] { children.data[index].pointImage(at: baseURL + name) }
            }
            item.children = children
        }
        return item
    }

    /// What a feed shows, without Instagram's CDN URLs, which change with every answer (their signature and
    /// expiry) while the posts stay the same: two feeds with the same substance are no change.
    func substance(of items: [MediaItem]) -> [MediaItem] {
        items.map { item in
            var item = item
            item.keepOnlyURLs(startingWith: baseURL)
            if var children = item.children {
                for index in children.data.indices { children.data[index].keepOnlyURLs(startingWith: baseURL) }
                item.children = children
            }
            return item
        }
    }

    /// The copies an earlier copy of the feed used, by post or carousel item id.
    static func localNames(_ items: [MediaItem], baseURL: String) -> [String: String] {
        var names: [String: String] = [:]
        func note(_ id: String, _ urls: String?...) {
            for url in urls.compactMap({ $0 }) where url.hasPrefix(baseURL) { names[id] = String(url.dropFirst(baseURL.count)) }
        }
        for item in items {
            note(item.id, item.mediaURL, item.thumbnailURL)
            for child in item.children?.data ?? [] { note(child.id, child.mediaURL, child.thumbnailURL) }
        }
        return names
    }

    /// Images are copied from Instagram's CDN hosts only (and from the Graph host's own, for a local emulator):
    /// an answer cannot make this site fetch from anywhere else.
    static func isCopySource(_ url: String, graphBaseURL: String) -> Bool {
        guard let components = URLComponents(string: url), let host = components.host?.lowercased(), let scheme = components.scheme?.lowercased()
        else { return false }
        if let graph = URLComponents(string: graphBaseURL), graph.host?.lowercased() == host, graph.scheme?.lowercased() == scheme,
            graph.port == components.port
        {
            return true
        }
        return scheme == "https" && components.port == nil
            && (host.hasSuffix(".cdninstagram.com") || host.hasSuffix(".fbcdn.net"))
    }
}
