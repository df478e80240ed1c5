/// The records a web server sends for one request, as bytes: for the tests, the fuzzers and the benchmark's
/// client. The responder itself only reads them (libfcgi, `RequestScanner`).
package enum RecordEncoder {
    /// A whole request as a web server sends it: BEGIN_REQUEST, PARAMS…, empty PARAMS, STDIN…, empty STDIN.
    package static func request(params: [String: String], body: [UInt8] = [], keepConnection: Bool = false, id: UInt16 = 1) -> [UInt8] {
        var out: [UInt8] = []
        out += record(type: 1, content: [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0], id: id)
        var encoded: [UInt8] = []
        for (name, value) in params {
            encoded += length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
        }
        for chunk in chunks(encoded) { out += record(type: 4, content: chunk, id: id) }
        out += record(type: 4, content: [], id: id)
        for chunk in chunks(body) { out += record(type: 5, content: chunk, id: id) }
        out += record(type: 5, content: [], id: id)
        return out
    }

    package static func record(type: UInt8, content: [UInt8], id: UInt16 = 1) -> [UInt8] {
        let padding = (8 - content.count % 8) % 8
        return [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }

    package static func length(_ count: Int) -> [UInt8] {
        count < 128
            ? [UInt8(count)]
            : [UInt8((count >> 24) | 0x80), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
    }

    package static func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: 65_535).map { Array(bytes[$0..<min($0 + 65_535, bytes.count)]) }
    }
}
