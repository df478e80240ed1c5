import Foundation
import LogHandlers
import Logging
import Testing

@testable import InstagramAuth

#if canImport(Glibc)
import Glibc
#endif

@Suite("The change hook's bounds")
struct ChangeHookBoundsTests {
    @Test func aHookThatRunsTooLongIsStoppedWithWhatItStarted() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hook-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = folder + "/slow.sh"
        try """
        #!/bin/sh
        sleep 60 &
        echo $! > \(folder)/child.pid
        echo $$ > \(folder)/hook.pid
        sleep 60
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let recorder = LogRecorder()
        let hook = ChangeHook(command: script, timeoutSeconds: 1, logger: recorder.logger(label: "hook"))
        let started = Date()
        hook.run(.feedChanged, userID: "1", username: "someone")
        let failures = await hook.waitForAll()
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(failures == ["feed_changed for @someone: it ran longer than 1 s and was stopped"])
        for name in ["hook.pid", "child.pid"] {
            let pid = try #require(Int32(try String(contentsOfFile: folder + "/" + name, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            // Gone, or at most a zombie its parent has not reaped yet (the hook's own child, reparented).
            var ended = false
            for _ in 0..<50 {
                let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
                if state == nil || state == "Z" { ended = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(ended, "\(name) still runs")
        }
        #expect(recorder.lines.contains { $0.contains("INSTAGRAM_AUTH_ON_CHANGE failed") })
    }
}
