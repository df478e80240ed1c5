import Foundation
import Logging

/// Keeps every log line in memory (level, message and metadata, as a log would show them), so a test or a
/// fuzz target can check what was logged: that no secret was, that a line was written once.
public final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [String] = []

    public init() {}

    public var lines: [String] { lock.withLock { recorded } }
    public var text: String { lines.joined(separator: "\n") }
    public func clear() { lock.withLock { recorded.removeAll() } }

    /// A logger whose lines this recorder keeps.
    public func logger(label: String = "test") -> Logger {
        Logger(label: label) { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = metadata.merging(event.metadata ?? [:]) { _, new in new }
            let shown = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            recorder.lock.withLock { recorder.recorded.append("\(event.level) \(event.message) \(shown)") }
        }
    }
}
