import ChildProcess
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// scripts/test-watchdog, the time limit on every test of `scripts/test`, against a run that hangs as CI's
/// did: a test process whose test never ends while another process holds one of its pipes.
@Suite("The test run's watchdog")
struct WatchdogTests {
    @Test func aTestOverItsLimitFailsTheRunNamedWithWhoHoldsTheTestProcesssPipes() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ia-watchdog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let events = folder.appendingPathComponent("events.jsonl").path
        let log = folder.appendingPathComponent("test-output.log").path
        let test = "Stalled.Suite/waitsForEver()/Stalled.swift:1:1"
        try """
            {"kind":"test","payload":{"id":"\(test)","kind":"function","name":"waitsForEver()"},"version":0}
            {"kind":"event","payload":{"kind":"runStarted"},"version":0}
            {"kind":"event","payload":{"kind":"testStarted","testID":"\(test)"},"version":0}
            {"kind":"test","payload":{"id":"Stalled.Suite/endsAtOnce()/Stalled.swift:2:1","kind":"function","name":"endsAtOnce()"},"version":0}
            {"kind":"event","payload":{"kind":"testStarted","testID":"Stalled.Suite/endsAtOnce()/Stalled.swift:2:1"},"version":0}
            {"kind":"event","payload":{"kind":"testEnded","testID":"Stalled.Suite/endsAtOnce()/Stalled.swift:2:1"},"version":0}

            """.write(toFile: events, atomically: true, encoding: .utf8)
        // `swift test`, leading a process group of its own, and under it the test process in another group, as
        // `swift test` starts it: it reads a pipe whose write end a process it started holds (`sleep`, started
        // by the process substitution).
        let testProcess = "exec 3< <(exec sleep 120); exec -a Stalled.xctest sleep 120"
        let run = try ChildProcess.start(
            "/usr/bin/setsid", ["/bin/bash", "-c", "/usr/bin/setsid /bin/bash -c '\(testProcess)' & wait"])
        defer { run.stop(grace: 0) }
        var tester = ""
        try await waitFor("the test process") {
            tester = ((try? String(contentsOfFile: "/proc/\(run.pid)/task/\(run.pid)/children", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespaces)
            return ((try? String(contentsOfFile: "/proc/\(tester)/cmdline", encoding: .utf8)) ?? "").hasPrefix("Stalled.xctest")
        }
        let started = Date()
        let watchdog = try await runToEnd(
            Paths.repository.appendingPathComponent("scripts/test-watchdog").path, [events, log, String(run.pid)],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "INSTAGRAM_AUTH_TEST_TIME_LIMIT": "2"])
        let seconds = Date().timeIntervalSince(started)

        #expect(watchdog.status == 1, "\(watchdog.err)")
        #expect(seconds < 20, "the watchdog took \(seconds) s")
        let report = try String(contentsOfFile: log, encoding: .utf8)
        #expect(report.contains("watchdog: \(test) has run for"), "\(report)")
        #expect(!report.contains("endsAtOnce"), "\(report)")
        #expect(report.contains("test process \(tester): Stalled.xctest 120"), "\(report)")
        #expect(report.contains("thread \(tester) sleep: state S"), "\(report)")
        let holder = try #require(report.split(separator: "\n").first { $0.contains("holds descriptors of the test process") })
        #expect(holder.contains("fd 1 = its fd 3 (pipe:[") && holder.hasSuffix(": sleep 120"), "\(holder)")
        // The run, the test process and the process holding its pipe were ended.
        #expect(try await offPool { run.wait(seconds: 5) } == .signaled(SIGKILL))
        let holderPID = holder.split(separator: " ").dropFirst(2).first.map(String.init) ?? "?"
        for pid in [tester, holderPID] {
            try await waitFor("process \(pid) to end", seconds: 5) {
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                return stat.isEmpty || stat.contains(") Z ")
            }
        }
    }

    @Test func aRunThatEndsInTimeEndsTheWatchdogQuietly() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ia-watchdog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try ChildProcess.start("/usr/bin/setsid", ["/bin/sleep", "3"])
        let watchdog = try await runToEnd(
            Paths.repository.appendingPathComponent("scripts/test-watchdog").path,
            [folder.appendingPathComponent("none.jsonl").path, folder.appendingPathComponent("log").path, String(run.pid)],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "INSTAGRAM_AUTH_TEST_TIME_LIMIT": "1"])
        #expect(watchdog.status == 0 && watchdog.err.isEmpty, "\(watchdog.err)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("log").path), "a report of nothing")
        #expect(try await offPool { run.wait(seconds: 1) } == .exited(0))
    }
}
