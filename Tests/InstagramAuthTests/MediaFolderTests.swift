import FastCGI
import Foundation
import Testing

@testable import InstagramAuth

@Suite("The media folder")
struct MediaFolderTests {
    @Test func formatsAreToldByTheirFirstBytes() {
        #expect(ImageFormat(magic: [0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat(magic: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(ImageFormat(magic: Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)) == .webp)
        #expect(ImageFormat(magic: Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8)) == nil)
        #expect(ImageFormat(magic: Array("<html>".utf8)) == nil)
        #expect(ImageFormat(magic: Array("GIF89a".utf8)) == nil)
        #expect(ImageFormat(magic: []) == nil)
    }

    @Test func onlyItsOwnNamesAreLookedUp() throws {
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 1, 2, 3]
        let name = MediaFolder.name(of: bytes, format: .jpeg, userID: "17841405793187218")
        #expect(MediaFolder.format(ofName: name) == .jpeg)
        #expect(name.hasPrefix(MediaFolder.tag(of: "17841405793187218") + "-"))
        #expect(name != MediaFolder.name(of: bytes, format: .jpeg, userID: "17841400000000001"), "each account's copies are its own")
        for other in ["", "..", "../" + name, name + "/", "." + name, name.uppercased(), String(name.dropLast(3)) + "svg", "a" + name, String(name.dropFirst())] {
            #expect(MediaFolder.format(ofName: other) == nil, "\(other)")
        }
    }

    @Test func writesReadsAndRemovesAnAccountsCopies() throws {
        let folder = MediaFolder(path: FileManager.default.temporaryDirectory.appendingPathComponent("media-\(UUID().uuidString.prefix(8))").path)
        let first = MediaFolder.name(of: [0xFF, 0xD8, 0xFF, 1], format: .jpeg, userID: "1")
        let second = MediaFolder.name(of: [0xFF, 0xD8, 0xFF, 2], format: .jpeg, userID: "1")
        let other = MediaFolder.name(of: [0xFF, 0xD8, 0xFF, 1], format: .jpeg, userID: "2")
        for name in [first, second, other] { try folder.write([0xFF, 0xD8, 0xFF, 1], as: name) }
        #expect(folder.read(first)?.bytes == [0xFF, 0xD8, 0xFF, 1])
        #expect(folder.totalBytes() == 12)
        #expect(folder.remove(copiesOf: "1", keeping: [second]) == 1)
        #expect(folder.contains(second) && !folder.contains(first) && folder.contains(other))
        #expect(folder.remove(copiesOf: "1") == 1)
        #expect(folder.contains(other), "another account's copies stay")
        let mode = try FileManager.default.attributesOfItem(atPath: folder.path)[.posixPermissions] as? Int
        #expect(mode == 0o750)
    }

    @Test func aFIFOOrAnEmptyFileUnderOneOfItsNamesIsNotServed() throws {
        let folder = MediaFolder(path: FileManager.default.temporaryDirectory.appendingPathComponent("media-\(UUID().uuidString.prefix(8))").path)
        try folder.write([0xFF, 0xD8, 0xFF, 1], as: MediaFolder.name(of: [0xFF, 0xD8, 0xFF, 1], format: .jpeg, userID: "1"))
        let fifo = MediaFolder.name(of: [1], format: .jpeg, userID: "1")
        #expect(mkfifo(folder.path + "/" + fifo, 0o600) == 0)
        #expect(folder.read(fifo) == nil, "read without waiting for a writer")
        let empty = MediaFolder.name(of: [2], format: .jpeg, userID: "1")
        #expect(FileManager.default.createFile(atPath: folder.path + "/" + empty, contents: Data()))
        #expect(folder.read(empty) == nil)
    }

    @Test func anImageReadAMomentAgoIsAnsweredFromMemoryUntilItIsCheckedAgain() async throws {
        let harness = try await PageHarness()
        let media = harness.page.configuration.feed.media
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF] + Array(repeating: 7, count: 100)
        let name = MediaFolder.name(of: bytes, format: .jpeg, userID: "1")
        try media.write(bytes, as: name)
        let request = Request(method: "GET", path: "/instagram/media/" + name)
        guard case .reading(let read) = harness.page.answer(to: request) else { throw Failure("the first request did not read the file") }
        #expect(read().body == bytes)
        guard case .ready(let remembered) = harness.page.answer(to: request) else { throw Failure("the next request read the file again") }
        #expect(remembered.status == 200 && remembered.body == bytes && remembered.value(of: "content-type") == "image/jpeg")
        #expect(remembered.value(of: "cache-control") == "public, max-age=31536000, immutable")
        var conditional = request
        conditional.headers["if-none-match"] = remembered.value(of: "etag")
        guard case .ready(let notModified) = harness.page.answer(to: conditional) else { throw Failure("a 304 read the file") }
        #expect(notModified.status == 304 && notModified.body.isEmpty)
        // Removed by another process: served from memory at most as long as a feed answer would be.
        media.remove([name])
        try await Task.sleep(for: .seconds(RenderedFeeds.recheckAfter + 0.05))
        guard case .reading(let again) = harness.page.answer(to: request) else { throw Failure("a removed image was still answered from memory") }
        #expect(again().status == 404)
        try await harness.close()
    }

    @Test func recentImagesAreBoundedAndForgotten() {
        let images = RecentImages()
        let now = Date()
        images.remember("a", Response(status: 200, body: [1, 2, 3]), readAt: now)
        #expect(images.image("a", now: now)?.answer.body == [1, 2, 3])
        #expect(images.image("a", now: now + RenderedFeeds.recheckAfter) == nil, "checked again")
        images.remember("large", Response(status: 200, body: [UInt8](repeating: 0, count: RecentImages.largest + 1)), readAt: now)
        #expect(images.image("large", now: now) == nil && images.bytes == 3)
        let big = Response(status: 200, body: [UInt8](repeating: 0, count: RecentImages.largest))
        images.remember("b", big, readAt: now)
        images.remember("b", big, readAt: now)
        #expect(images.bytes == 3 + big.body.count, "an image read again replaces itself")
        // 3 bytes and one big image, then as many more as fill the bound: the last one does not fit.
        for index in 0..<(RecentImages.capacity / RecentImages.largest - 1) { images.remember("c\(index)", big, readAt: now) }
        #expect(images.bytes == big.body.count && images.image("a", now: now) == nil, "past its bound the memory starts again")
        images.forget()
        #expect(images.bytes == 0 && images.image("c0", now: now) == nil)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
