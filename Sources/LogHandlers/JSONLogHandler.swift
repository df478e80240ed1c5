import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One JSON object a line on standard error, for log collectors: `time` (RFC 3339, UTC, milliseconds), `level`,
/// `message`, `module` (the Swift module that logged), `label`, and `metadata` as an object. Every control character
/// is escaped, as JSON requires, and so are the Unicode line and paragraph separators: no value from outside can
/// break a line or forge one.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// Lines go to `write`; to standard error when not given.
    public init(label: String, write: @escaping @Sendable (String) -> Void = TextLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let given = event.metadata { fields.merge(given) { _, new in new } }
        var line = "{\"time\":"
        Self.append(Self.timestamp(), to: &line)
        line += ",\"level\":"
        Self.append(event.level.rawValue, to: &line)
        line += ",\"message\":"
        Self.append("\(event.message)", to: &line)
        line += ",\"module\":"
        Self.append(event.source, to: &line)
        line += ",\"label\":"
        Self.append(label, to: &line)
        line += ",\"metadata\":"
        Self.append(.dictionary(fields), to: &line)
        line += "}\n"
        write(line)
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
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029:
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
