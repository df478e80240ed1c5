import FastCGI
import LogHandlers

/// What operators set: when a request counts as slow, who may read the status page, how log lines are written.
public struct MonitoringSettings: Sendable, Equatable {
    /// Seconds after which a request is logged as slow, with where its time went (`INSTAGRAM_AUTH_SLOW_REQUEST`).
    public var slowRequestSeconds: Double
    /// Addresses besides loopback that may read `status` and `ready`'s reason (`INSTAGRAM_AUTH_STATUS_ALLOW`); nil
    /// for any address (`*`: the web server's own rules decide).
    public var statusReaders: Set<PeerAddress>?
    /// `INSTAGRAM_AUTH_LOG_FORMAT`.
    public var logFormat: LogFormat

    public static let defaultSlowRequestSeconds = 5.0

    public init(slowRequestSeconds: Double = defaultSlowRequestSeconds, statusReaders: Set<PeerAddress>? = [], logFormat: LogFormat = .text) {
        self.slowRequestSeconds = slowRequestSeconds
        self.statusReaders = statusReaders
        self.logFormat = logFormat
    }

    init(_ source: Source) throws(ConfigurationError) {
        let slowText = source.value("INSTAGRAM_AUTH_SLOW_REQUEST") ?? "5"
        guard let slow = Double(slowText), slow.isFinite, (0.001...3600).contains(slow) else {
            throw ConfigurationError("INSTAGRAM_AUTH_SLOW_REQUEST", "must be seconds from 0.001 to 3600, not \(slowText.debugDescription)")
        }
        var readers: Set<PeerAddress>? = []
        for entry in (source.value("INSTAGRAM_AUTH_STATUS_ALLOW") ?? "").split(whereSeparator: { $0 == "," || $0 == " " }) {
            if entry == "*" {
                readers = nil
            } else if let address = PeerAddress(String(entry)) {
                readers?.insert(address)
            } else {
                throw ConfigurationError(
                    "INSTAGRAM_AUTH_STATUS_ALLOW", "must list IP addresses (not names or ranges), or * for any, not \(String(entry).debugDescription)")
            }
        }
        self.init(slowRequestSeconds: slow, statusReaders: readers, logFormat: try Self.logFormat(source))
    }

    /// `INSTAGRAM_AUTH_LOG_FORMAT` alone: what every command reads before anything else.
    static func logFormat(_ source: Source) throws(ConfigurationError) -> LogFormat {
        let text = source.value("INSTAGRAM_AUTH_LOG_FORMAT") ?? "text"
        guard let format = LogFormat(rawValue: text) else {
            throw ConfigurationError("INSTAGRAM_AUTH_LOG_FORMAT", "must be text or json, not \(text.debugDescription)")
        }
        return format
    }

    /// Whether a request from `remoteAddress` may read the status page: loopback always, others when listed.
    public func mayReadStatus(from remoteAddress: String) -> Bool {
        guard let readers = statusReaders else { return true }
        guard let address = PeerAddress(remoteAddress) else { return false }
        return address.isLoopback || readers.contains(address)
    }
}
