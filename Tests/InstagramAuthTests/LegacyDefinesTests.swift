import Testing

@testable import InstagramAuth

@Suite("import-php: the legacy defines.php")
struct LegacyDefinesTests {
    func configuration(_ php: String) throws(LegacyDefines.Failure) -> [String: String] {
        let text = try LegacyDefines.configuration(from: php, source: "defines.php")
        do {
            return try ConfigurationFile.parse(text, name: "imported")
        } catch {
            Issue.record("the imported configuration does not read: \(error)")
            return [:]
        }
    }

    @Test func writesTheConstantsAsTheyAre() throws {
        let values = try configuration("""
            <?php
            define('INSTAGRAM_APP_ID', '4242');
            define("IG_CLIENT_SECRET", "  padded secret ");
            define('REDIRECT_URL', 'https://example.com/instagram/');
            define('APP_ID', 'the first definition wins');
            """)
        #expect(values == [
            "INSTAGRAM_APP_ID": "4242", "INSTAGRAM_APP_SECRET": "  padded secret ",
            "INSTAGRAM_REDIRECT_URI": "https://example.com/instagram/",
        ])
    }

    @Test func refusesAValueThatSpansLines() {
        for secret in ["abc\n3", "abc\r\nINSTAGRAM_API=basic-display", "abc\r"] {
            let php = "define('APP_ID', '1'); define('APP_SECRET', '\(secret)'); define('REDIRECT_URI', 'https://e.com/')"
            #expect(throws: LegacyDefines.Failure.self) { try LegacyDefines.configuration(from: php, source: "defines.php") }
        }
    }

    @Test func namesWhatIsMissing() {
        #expect(throws: LegacyDefines.Failure(
            description: "defines.php defines no INSTAGRAM_APP_ID, INSTAGRAM_REDIRECT_URI (looked for define('…APP_ID'|'…SECRET'|'…REDIRECT…', '…'))")
        ) { try LegacyDefines.configuration(from: "define('APP_SECRET', 'x');", source: "defines.php") }
    }
}
