import Foundation

/// How pages, logs and the commands write dates, durations and text from outside.
public enum Formatting {
    /// `5 December 2026, 14:03 UTC`.
    public static func date(_ date: Date) -> String {
        utc(date, "d MMMM yyyy, HH:mm 'UTC'")
    }

    /// `date` in UTC, written as `format` says in English whatever the machine's locale.
    static func utc(_ date: Date, _ format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    /// `10 minutes`, `1 minute`, `45 seconds`.
    public static func duration(_ seconds: Int) -> String {
        if seconds % 60 == 0 { return seconds == 60 ? "1 minute" : "\(seconds / 60) minutes" }
        return seconds == 1 ? "1 second" : "\(seconds) seconds"
    }

    /// Text from outside (Instagram, the address bar) is shown at most 500 characters long.
    public static func clip(_ text: String) -> String {
        text.count > 500 ? String(text.prefix(500)) + "…" : text
    }
}
