import Foundation

/// The CDN behind the emulator's media URLs: real image bytes (an 8×8 picture as JPEG, PNG or WebP) until the
/// URL's `oe=` expiry, then 403 as Instagram's CDN answers; told on demand to send something that is no image,
/// or too much of one.
extension Emulator {
    /// What the CDN sends for an image.
    public enum ImageKind: String, Sendable, CaseIterable {
        case jpeg, png, webp
        /// HTML, labelled `image/jpeg`: a header that lies.
        case garbage
        /// A JPEG of 9 MiB: more than a copy may take.
        case huge
    }

    static let jpegBytes = hex(
            "ffd8ffe000104a46494600010100000100010000ffdb0043000d090a0b0a080d0b0a0b0e0e0d0f13201513121213271c"
            + "1e17202e2931302e292d2c333a4a3e333646372c2d405741464c4e525352323e5a615a50604a51524fffdb0043010e0e"
            + "0e131113261515264f352d354f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f"
            + "4f4f4f4f4f4f4f4f4f4f4f4f4f4fffc00011080008000803012200021101031101ffc4001f0000010501010101010100"
            + "000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221"
            + "31410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a"
            + "434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596979899"
            + "9aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1"
            + "f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100"
            + "020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f015"
            + "6272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869"
            + "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4"
            + "c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f008e"
            + "6b4f6a28a2bc48ce563a6b549731ffd9")
    static let pngBytes = hex(
            "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc0000001949444154789c633c11a0f1"
            + "8d810113b130703160058353020009a4085e9a8f1c0f0000000049454e44ae426082")
    static let webpBytes = hex(
            "524946463c000000574542505650382030000000b001009d012a0800080002c04c25a80274010ebb048000fd72c3b9e1"
            + "27effd6e6f8a4dfbaa18d0fae9693c6624080000")

    /// `GET /_cdn/<media-id>.jpg?oe=<hex expiry>`.
    func cdn(_ path: String, _ query: [String: String]) -> Action {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        guard let expiry = query["oe"].flatMap({ Int($0, radix: 16) }), Date(timeIntervalSince1970: TimeInterval(expiry)) > now() else {
            return .respond(status: 403, headers: ["Content-Type": "text/plain"], body: "URL signature expired")
        }
        if name.hasSuffix(".mp4") {
            return .binary(status: 200, headers: ["Content-Type": "video/mp4"], body: Array("\0\0\0\u{18}ftypmp42 an emulated video".utf8))
        }
        let id = Array(name.prefix { $0 != "." }.utf8)
        switch lock.withLock({ imageKind }) {
        case .jpeg:
            // A comment segment with the media id after the start marker: a valid JPEG of its own for each post.
            let comment: [UInt8] = [0xFF, 0xFE, 0, UInt8(id.count + 2)] + id
            return .binary(status: 200, headers: ["Content-Type": "image/jpeg"], body: Array(Self.jpegBytes.prefix(2)) + comment + Self.jpegBytes.dropFirst(2))
        case .png: return .binary(status: 200, headers: ["Content-Type": "image/png"], body: Self.pngBytes)
        case .webp: return .binary(status: 200, headers: ["Content-Type": "image/webp"], body: Self.webpBytes)
        case .garbage:
            return .binary(status: 200, headers: ["Content-Type": "image/jpeg"], body: Array("<html><script>alert(1)</script></html>".utf8))
        case .huge:
            return .binary(status: 200, headers: ["Content-Type": "image/jpeg"], body: Self.jpegBytes + [UInt8](repeating: 0, count: 9 << 20))
        }
    }

    private static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
