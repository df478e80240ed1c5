import ChildProcess
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("A child gets its three descriptors and nothing else")
struct ChildProcessTests {
    /// The descriptors `pid` holds, by number, and what each one is.
    static func descriptors(of pid: pid_t) -> [Int: String] {
        let folder = "/proc/\(pid)/fd"
        var found: [Int: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            guard let number = Int(name) else { continue }
            found[number] = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(name)")) ?? "?"
        }
        return found
    }

    /// Whether the read end of a pipe reaches its end within `seconds`: every write end closed.
    static func reachesEnd(_ fd: Int32, within seconds: Double) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(seconds * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 0
    }

    /// The hang that stalled CI: a pipe of this process that is not close-on-exec (as Foundation's `Pipe`
    /// makes them) is open while a long-lived server starts. The server must not hold it: once this process
    /// closes its write end, the reader sees the end at once.
    @Test func aServerStartedWhileAPipeIsOpenDoesNotHoldIt() async throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let server = try ChildProcess.start("/bin/sleep", ["30"])
        defer { server.stop() }
        // A program may open a file of its own while it starts (sleep reads the locale archive): look
        // again for a moment. A descriptor it inherited stays, and fails the test.
        var held = Self.descriptors(of: server.pid)
        for _ in 0..<40 where held.keys.sorted() != [0, 1, 2] {
            try await Task.sleep(for: .milliseconds(25))
            held = Self.descriptors(of: server.pid)
        }
        #expect(held.keys.sorted() == [0, 1, 2], "the child holds \(held)")
        close(ends[1])
        let readEnd = ends[0]
        #expect(try await offPool { Self.reachesEnd(readEnd, within: 5) }, "the pipe's end never came: the server holds its write end")
    }

    /// Tests run side by side: a short program run to its end while other tests start servers at the same
    /// moment. Each run's output reaches its end as soon as the program exits.
    @Test func aProgramRunToItsEndWhileServersStartFinishesAtOnce() async throws {
        let servers = ServersStarted()
        defer { for server in servers.all { server.stop(grace: 0) } }
        async let started: Void = offPool {
            for _ in 0..<40 { servers.add(try ChildProcess.start("/bin/sleep", ["30"])) }
        }
        let runs = try await offPool {
            try (0..<40).map { round in
                let began = Date()
                let finished = try ChildProcess.run("/bin/sh", ["-c", "echo out \(round); echo err \(round) >&2"])
                return (round, finished, Date().timeIntervalSince(began))
            }
        }
        try await started
        for (round, finished, seconds) in runs {
            #expect(finished.outputText == "out \(round)\n" && finished.errorText == "err \(round)\n")
            #expect(seconds < 5, "round \(round) took \(seconds) s: a server held its output")
        }
        for server in servers.all {
            let held = Self.descriptors(of: server.pid)
            #expect(held.keys.sorted() == [0, 1, 2], "a server holds \(held)")
        }
    }

    @Test func inputGoesInAndBothOutputsComeBackWhole() async throws {
        // More than a pipe holds on each stream, written alternately: reading one to its end first would stall.
        let script = "cat >/dev/null; i=0; while [ $i -lt 2000 ]; do printf '%0100d\\n' $i; printf '%0100d\\n' $i >&2; i=$((i+1)); done"
        let input = [UInt8](repeating: 65, count: 300_000)
        let finished = try await offPool { try ChildProcess.run("/bin/sh", ["-c", script], input: input) }
        #expect(finished.termination == .exited(0))
        #expect(finished.output.count == 2000 * 101 && finished.error.count == 2000 * 101)
        let echoed = try await offPool { try ChildProcess.run("/bin/sh", ["-c", "wc -c; exit 3"], input: Array("hello".utf8)) }
        #expect(echoed.termination == .exited(3))
        #expect(echoed.outputText.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
    }

    @Test func aProgramThatLeavesItsInputUnreadDoesNotEndThisProcess() async throws {
        let input = [UInt8](repeating: 65, count: 1 << 20)
        let finished = try await offPool { try ChildProcess.run("/bin/true", [], input: input) }
        #expect(finished.termination == .exited(0))
    }

    @Test func theEnvironmentIsExactlyTheOneGiven() async throws {
        let finished = try await offPool { try ChildProcess.run("/usr/bin/env", [], environment: ["ONLY": "this"]) }
        #expect(finished.outputText == "ONLY=this\n")
    }

    @Test func signalsStartAtTheirDefaultsUnblocked() async throws {
        let finished = try await offPool { () throws -> ChildProcess.Finished in
            var usr1 = sigset_t()
            sigemptyset(&usr1)
            sigaddset(&usr1, SIGUSR1)
            var previous = sigset_t()
            pthread_sigmask(SIG_BLOCK, &usr1, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            return try ChildProcess.run("/bin/cat", ["/proc/self/status"])
        }
        let blocked = finished.outputText.split(separator: "\n").first { $0.hasPrefix("SigBlk:") }
        #expect(blocked == "SigBlk:\t0000000000000000")
    }

    @Test func stopEndsAChildThatIgnoresSIGTERM() async throws {
        let child = try ChildProcess.start("/bin/sh", ["-c", "trap '' TERM; exec sleep 30"])
        #expect(child.isRunning)
        try await Task.sleep(for: .milliseconds(200))
        let termination = try await offPool { child.stop(grace: 0.3) }
        #expect(termination == .signaled(SIGKILL))
        #expect(!child.isRunning && child.termination == .signaled(SIGKILL))
    }

    @Test func outputAndErrorGoToTheFileNamed() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).log").path
        defer { unlink(log) }
        try "before\n".write(toFile: log, atomically: true, encoding: .utf8)
        let child = try ChildProcess.start("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"], output: .file(log))
        #expect(try await offPool { child.wait() } == .exited(7))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "before\nout\nerr\n")
    }

    @Test func aMissingProgramIsNamedInTheError() async throws {
        #expect {
            try ChildProcess.run("/nonexistent/program", [])
        } throws: { error in
            "\(error)".contains("/nonexistent/program did not start: No such file or directory")
        }
    }
}

private final class ServersStarted: @unchecked Sendable {
    private let lock = NSLock()
    private var servers: [ChildProcess] = []
    func add(_ server: ChildProcess) { lock.withLock { servers.append(server) } }
    var all: [ChildProcess] { lock.withLock { servers } }
}
