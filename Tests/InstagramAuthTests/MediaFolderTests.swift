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
}
