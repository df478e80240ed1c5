/// The image formats a copied feed image may be, told by the file's first bytes, never by a header.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg = "jpg"
    case png
    case webp

    /// The format `bytes` begin as, or nil for anything else (HTML, a video, an error page).
    public init?(magic bytes: [UInt8]) {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) {
            self = .webp
        } else {
            return nil
        }
    }

    /// The file name's extension.
    public var fileExtension: String { rawValue }

    public var contentType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        }
    }
}
