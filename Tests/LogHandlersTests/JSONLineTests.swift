import Foundation
import LogHandlers
import Logging
import Testing

@Suite("JSON log lines")
struct JSONLineTests {
    @Test func jsonLogLinesEscapeWhatCouldBreakALine() throws {
        let lines = TextLineTests.Lines()
        var logger = Logger(label: "test") { LineLogHandler(label: $0, format: .json) { line in lines.written.withLock { $0.append(line) } } }
        logger.logLevel = .debug
        logger.warning("a line\nwith \"quotes\", a \u{1B}[31m colour and \u{2028}", metadata: ["nested": ["a": "1\r2", "list": ["x", "y"]], "n": "\(3)"])
        let line = try #require(lines.written.withLock { $0.first })
        #expect(line.hasSuffix("}\n") && line.dropLast().firstIndex(of: "\n") == nil, "one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "a line\nwith \"quotes\", a \u{1B}[31m colour and \u{2028}")
        #expect(object["level"] as? String == "warning" && object["label"] as? String == "test")
        #expect(object["module"] as? String == "LogHandlersTests")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect((metadata["nested"] as? [String: Any])?["a"] as? String == "1\r2")
        #expect((metadata["nested"] as? [String: Any])?["list"] as? [String] == ["x", "y"])
        #expect(!line.contains("\u{1B}") && !line.contains("\u{2028}") && line.contains("\\u001b") && line.contains("\\u2028"))
    }
}
