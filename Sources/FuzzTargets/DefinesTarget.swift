import InstagramAuth

/// `import-php`: the legacy script's `defines.php` turned into a configuration file.
enum DefinesTarget {
    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let php = input.text
        let found = LegacyDefines.constants(in: php)
        try require(
            found.keys.allSatisfy(LegacyDefines.keys.contains), "constants found under other keys: \(found.keys.sorted())")

        let text: String
        do {
            text = try LegacyDefines.configuration(from: php, source: "defines.php")
        } catch {
            // Refused: a constant is missing, or one cannot be written as a configuration line.
            let unwritable = found.values.contains { $0.unicodeScalars.contains { $0 == "\n" || $0 == "\r" } }
            try require(
                LegacyDefines.keys.contains { found[$0] == nil } || unwritable,
                "refused although all three constants were found: \(error.description.shown)")
            return
        }
        try require(LegacyDefines.keys.allSatisfy { found[$0] != nil }, "wrote a configuration without all three constants")

        // The file it writes reads back as exactly the constants it found.
        let values: [String: String]
        do {
            values = try ConfigurationFile.parse(text, name: "imported")
        } catch {
            throw InvariantViolation("the configuration written from \(php.shown) does not read: \(error.description.shown)")
        }
        try require(
            values.count == found.count && found.allSatisfy { values[$0.key].map { Array($0.utf8) } == Array($0.value.utf8) },
            "constants \(found.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.shown)" }) read back as \(values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.shown)" })")
    }
}
