import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error, as swift-log's `StreamLogHandler` writes it
/// (`time level label: key=value message`), with every control character in the message and the
/// metadata escaped: a value from outside (a query parameter, Instagram's error text) that holds a line
/// break cannot forge a log line of its own.
public struct TextLogHandler: LogHandler {
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

    /// One `write(2)` per line: lines of several threads never interleave.
    public static func standardError(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let given = event.metadata { fields.merge(given) { _, new in new } }
        let shown = fields.sorted { $0.key < $1.key }.map { "\(Self.escaped($0.key))=\(Self.escaped("\($0.value)"))" }
        let prefix = "\(Self.timestamp()) \(event.level) \(label):"
        write(([prefix] + shown + [Self.escaped("\(event.message)")]).joined(separator: " ") + "\n")
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

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// `2026-12-02T10:00:00+0000`, in local time as `StreamLogHandler` writes it.
    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
