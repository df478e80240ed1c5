import Foundation
import LogHandlers
import Logging
import Synchronization
import Testing

@Suite("Log lines")
struct TextLineTests {
    final class Lines: Sendable {
        let written = Mutex<[String]>([])
    }

    @Test func aValueFromOutsideCannotForgeALine() {
        let lines = Lines()
        var logger = Logger(label: "instagram-auth") { LineLogHandler(label: $0, format: .text) { line in lines.written.withLock { $0.append(line) } } }
        logger.logLevel = .info
        logger.info(
            "authorization declined\nforged message", metadata: ["error": "x\n2026-12-02T10:00:00+0000 error instagram-auth: forged", "tab": "a\tb\u{85}c\u{2028}d"])
        logger.debug("below the level")
        let written = lines.written.withLock { $0 }
        #expect(written.count == 1)
        let line = written[0]
        #expect(line.hasSuffix("\n") && line.dropLast().firstIndex(of: "\n") == nil, "\(line)")
        #expect(line.contains(#"error=x\n2026-12-02T10:00:00+0000 error instagram-auth: forged"#))
        #expect(line.contains(#"tab=a\tb\u{85}c\u{2028}d"#))
        #expect(line.contains(#"authorization declined\nforged message"#))
        #expect(line.contains(" info instagram-auth: "))
    }

    @Test func plainTextIsLeftAsItIs() {
        #expect(TextLine.escaped("@shop.owner (17841405793187218) – ünïcode") == "@shop.owner (17841405793187218) – ünïcode")
    }
}
