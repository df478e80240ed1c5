import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Watches the cooperative pool of a test process from a thread of its own. Every quarter second it
/// queues a small task; when that task waits more than two seconds to start, the watch prints to
/// stderr, once, what every thread of the process is blocked in (its state, system call and kernel
/// wait point, from /proc), and then how long the pool was held. When the watch's own thread was held
/// up as long, the whole process did not run: the machine was busy or paused, not the pool blocked.
/// Lines start with `pool-watch:`; `scripts/test` repeats them at the end of a failed run.
///
/// A test blocking the pool (two threads on a two-core machine) stalls every other test in the
/// process; their time bounds fail far from the cause. This names the cause.
public enum PoolWatch {
    /// Starts the watch once per process; `offPool` does, so every test that uses it starts it.
    public static func start() { _ = started }

    private static let started: Void = {
        Thread {
            Thread.current.name = "pool-watch"
            watch()
        }.start()
    }()

    /// How long a queued task may wait before the watch reports.
    static let patience: TimeInterval = 2

    private static func watch() {
        var lastTick = Date()
        while true {
            Thread.sleep(forTimeInterval: 0.25)
            let now = Date()
            let asleep = now.timeIntervalSince(lastTick)
            if asleep > patience {
                report(String(format: "this process did not run for %.1f s (the machine was busy or paused)", asleep - 0.25))
            }
            lastTick = now
            let ran = Ran()
            let queued = Date()
            Task.detached { ran.mark() }
            var polled = queued
            var longestGap: TimeInterval = 0
            while !ran.value, Date().timeIntervalSince(queued) < patience {
                Thread.sleep(forTimeInterval: 0.01)
                longestGap = max(longestGap, Date().timeIntervalSince(polled))
                polled = Date()
            }
            guard !ran.value else { continue }
            report(
                "a task has waited \(Int(patience)) s for the cooperative pool"
                    + String(format: " (this watch's own thread was held up to %.1f s meanwhile)", longestGap)
                    + "; the threads of this process:")
            for line in threads() { report("  " + line) }
            while !ran.value { Thread.sleep(forTimeInterval: 0.01) }
            report(String(format: "the cooperative pool ran the task after %.1f s", Date().timeIntervalSince(queued)))
            lastTick = Date()
        }
    }

    private static func report(_ line: String) {
        FileHandle.standardError.write(Data("pool-watch: \(line)\n".utf8))
    }

    /// One line per thread: id, name, state, system call and kernel wait point.
    static func threads() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.map { id in
            func read(_ file: String) -> String {
                ((try? String(contentsOfFile: "/proc/self/task/\(id)/\(file)", encoding: .utf8)) ?? "?")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let stat = read("stat")
            // The state follows the name, which is in parentheses and may hold spaces.
            let state = stat.range(of: ") ", options: .backwards).map { String(stat[$0.upperBound...].prefix(1)) } ?? "?"
            let call = read("syscall").split(separator: " ").first.map(String.init) ?? "?"
            return "\(id) \(read("comm")) state=\(state) syscall=\(syscallName(call)) wchan=\(read("wchan"))"
        }
    }

    /// The names of the calls a blocked thread is usually in (x86_64 and aarch64 numbers).
    static func syscallName(_ number: String) -> String {
        #if arch(x86_64)
        let names = [
            "0": "read", "1": "write", "7": "poll", "23": "select", "35": "nanosleep", "61": "wait4", "130": "rt_sigsuspend", "202": "futex",
            "230": "clock_nanosleep", "232": "epoll_wait", "247": "waitid", "271": "ppoll", "281": "epoll_pwait",
        ]
        #elseif arch(arm64)
        let names = [
            "63": "read", "64": "write", "73": "ppoll", "95": "waitid", "98": "futex", "101": "nanosleep", "133": "rt_sigsuspend",
            "115": "clock_nanosleep", "22": "epoll_pwait", "260": "wait4",
        ]
        #else
        let names: [String: String] = [:]
        #endif
        return names[number].map { "\($0)(\(number))" } ?? number
    }
}

/// Set by the watch's task when it runs.
private final class Ran: @unchecked Sendable {
    private let lock = NSLock()
    private var ran = false
    var value: Bool { lock.withLock { ran } }
    func mark() { lock.withLock { ran = true } }
}
