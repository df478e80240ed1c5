import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One JSON object a line, for log collectors: `time` (RFC 3339, UTC, milliseconds), `level`, `message`, `module` (the
/// Swift module that logged), `label`, and `metadata` as an object. Every control character is escaped, as JSON
/// requires, and so are the Unicode line and paragraph separators.
enum JSONLine {
    static func line(_ event: LogEvent, label: String, fields: Logger.Metadata) -> String {
        var line = "{\"time\":"
        append(timestamp(), to: &line)
        line += ",\"level\":"
        append(event.level.rawValue, to: &line)
        line += ",\"message\":"
        append("\(event.message)", to: &line)
        line += ",\"module\":"
        append(event.source, to: &line)
        line += ",\"label\":"
        append(label, to: &line)
        line += ",\"metadata\":"
        append(.dictionary(fields), to: &line)
        return line + "}\n"
    }

    static func append(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text): append(text, to: &line)
        case .stringConvertible(let value): append(value.description, to: &line)
        case .array(let values):
            line += "["
            for (index, value) in values.enumerated() {
                if index > 0 { line += "," }
                append(value, to: &line)
            }
            line += "]"
        case .dictionary(let values):
            line += "{"
            for (index, (key, value)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line += "," }
                append(key, to: &line)
                line += ":"
                append(value, to: &line)
            }
            line += "}"
        }
    }

    /// `text` as a JSON string.
    static func append(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where TextLine.isControl(scalar):
                let hex = String(scalar.value, radix: 16)
                line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    /// `2026-12-02T10:00:00.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let millis = String(now.tv_nsec / 1_000_000)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            + "." + String(repeating: "0", count: 3 - millis.count) + millis + "Z"
    }
}
