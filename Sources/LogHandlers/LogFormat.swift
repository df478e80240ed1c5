import Logging

/// How log lines are written: `text` (`TextLogHandler`) or `json` (`JSONLogHandler`), one event a line on standard
/// error either way.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json

    /// A logger of this format at `level`, writing to standard error.
    public func logger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { label in
            switch self {
            case .text: TextLogHandler(label: label)
            case .json: JSONLogHandler(label: label)
            }
        }
        logger.logLevel = level
        return logger
    }
}
