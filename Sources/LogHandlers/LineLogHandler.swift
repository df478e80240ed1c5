import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error, in a `LogFormat`: `text` as swift-log's `StreamLogHandler` writes it, or
/// `json`. Every control character in the message and the metadata is escaped either way: a value from outside (a
/// query parameter, Instagram's error text) that holds a line break cannot forge a log line of its own.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let write: @Sendable (String) -> Void

    /// Lines go to `write`; to standard error when not given.
    public init(label: String, format: LogFormat, write: @escaping @Sendable (String) -> Void = LineLogHandler.standardError) {
        self.label = label
        self.format = format
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
        switch format {
        case .text: write(TextLine.line(event, label: label, fields: fields))
        case .json: write(JSONLine.line(event, label: label, fields: fields))
        }
    }
}
