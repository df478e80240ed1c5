import Logging

/// How log lines are written (`LineLogHandler`): `text` (`TextLine`) or `json` (`JSONLine`), one event a line on
/// standard error either way.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json

    /// A logger of this format at `level`, writing to standard error.
    public func logger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { LineLogHandler(label: $0, format: self) }
        logger.logLevel = level
        return logger
    }
}
