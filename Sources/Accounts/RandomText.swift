import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Random bytes for secrets, tickets and browser ids.
package enum RandomBytes {
    /// `count` bytes from the system's generator: 256 at a time with getentropy(3) (one getrandom call), or eight
    /// at a time from the standard library's where that fails.
    package static func make(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        #if canImport(Glibc)
        while filled < count {
            let chunk = min(256, count - filled)
            guard bytes.withUnsafeMutableBytes({ getentropy($0.baseAddress! + filled, chunk) }) == 0 else { break }
            filled += chunk
        }
        #endif
        var generator = SystemRandomNumberGenerator()
        while filled < count {
            withUnsafeBytes(of: generator.next() as UInt64) { word in
                for byte in word where filled < count {
                    bytes[filled] = byte
                    filled += 1
                }
            }
        }
        return bytes
    }
}

/// Base64 with the URL-safe alphabet, as tickets, states and browser ids are written.
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Base64 with the URL-safe alphabet and no padding.
    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var group = UInt32(bytes[index]) << 16
            if count > 1 { group |= UInt32(bytes[index + 1]) << 8 }
            if count > 2 { group |= UInt32(bytes[index + 2]) }
            for position in 0...count {
                out.append(alphabet[Int((group >> UInt32(18 - 6 * position)) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 < 128 }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }
}
