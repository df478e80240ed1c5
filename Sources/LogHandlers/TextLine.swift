import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `time level label: key=value message`, as swift-log's `StreamLogHandler` writes a line, with every control character
/// escaped.
public enum TextLine {
    static func line(_ event: LogEvent, label: String, fields: Logger.Metadata) -> String {
        let shown = fields.sorted { $0.key < $1.key }.map { "\(escaped($0.key))=\(escaped("\($0.value)"))" }
        let prefix = "\(timestamp()) \(event.level) \(label):"
        return ([prefix] + shown + [escaped("\(event.message)")]).joined(separator: " ") + "\n"
    }

    /// `text` with each control character (C0, DEL, C1, and the Unicode line and paragraph separators)
    /// written as an escape: `\n`, `\r`, `\t`, or `\u{…}`.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// C0, DEL, C1, and the Unicode line and paragraph separators: what may break or forge a line.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// `2026-12-02T10:00:00+0000`, in local time as `StreamLogHandler` writes it.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
