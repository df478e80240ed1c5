import Foundation
import PostgresStore

/// `KEY=value` lines: `#` comments, blank lines, an optional `export `, optional quotes.
public enum ConfigurationFile {
    public static func read(path: String) throws(ConfigurationError) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("INSTAGRAM_AUTH_CONFIG", "cannot read the configuration file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("INSTAGRAM_AUTH_CONFIG", "\(path) is not UTF-8 text")
        }
        let values = try parse(text, name: path)
        // A file that holds a secret itself is kept as private as a secret file.
        let holdsSecret =
            values.keys.contains(where: Configuration.secretKeys.contains)
            || values["INSTAGRAM_AUTH_DATABASE"].flatMap { try? PostgresLocation(url: $0) }?.password != nil
        if holdsSecret, let problem = FileExposure.problem(path) {
            throw ConfigurationError("INSTAGRAM_AUTH_CONFIG", problem + " (it holds a secret)")
        }
        return values
    }

    /// Read by unicode scalars, not characters: a CRLF line end (one character, "\r\n", which never
    /// equals "\n") ends a line as LF does, and an `=`, `#` or quote that a neighbour joins into one
    /// character still counts.
    public static func parse(_ text: String, name: String) throws(ConfigurationError) -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(rawLine).trimmingCharacters(in: .whitespaces).unicodeScalars[...]
            if line.last == "\r" { line = line.dropLast() }
            if line.isEmpty || line.first == "#" { continue }
            if line.starts(with: "export ".unicodeScalars) {
                line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces).unicodeScalars[...]
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError("INSTAGRAM_AUTH_CONFIG", "\(name) line \(index + 1) is not KEY=value")
            }
            let key = String(line[..<equals]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces).unicodeScalars[...]
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = value.dropFirst().dropLast()
            }
            let base = key.hasSuffix("_FILE") ? String(key.dropLast(5)) : key
            guard Configuration.knownKeys.contains(key) || Configuration.secretKeys.contains(base) else {
                throw ConfigurationError(key, "in \(name) line \(index + 1) is not a known key")
            }
            values[key] = String(value)
        }
        return values
    }
}
