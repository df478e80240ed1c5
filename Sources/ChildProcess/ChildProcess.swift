import CSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program started with exactly three descriptors: its standard input, output and error.
///
/// Every other descriptor of this process stays here (glibc's `posix_spawn_file_actions_addclosefrom_np`),
/// whoever opened it and whether or not it is close-on-exec. Foundation's `Process` lets a child
/// inherit every descriptor not marked close-on-exec — its own `Pipe`s among them — so a server
/// started while another thread's child runs with pipes would hold that child's output open for as
/// long as the server lives, and the reader waiting for its end would wait for ever.
///
/// The child starts with every signal at its default action and none blocked, whatever this
/// process ignores or blocks.
public final class ChildProcess: Sendable {
    /// Where a child's standard input comes from.
    public enum Input: Sendable {
        /// `/dev/null`.
        case null
        /// A descriptor of this process, duplicated into the child (a listening socket a server inherits).
        case descriptor(Int32)
    }

    /// Where a child's standard output or error goes.
    public enum Output: Sendable {
        /// `/dev/null`.
        case null
        /// A file, created when missing and appended to.
        case file(String)
        /// A descriptor of this process, duplicated into the child.
        case descriptor(Int32)
    }

    /// How a child ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// The exit status, or the signal's number for a child a signal ended (as Foundation's `Process` says it).
        public var status: Int32 {
            switch self {
            case .exited(let status), .signaled(let status): status
            }
        }

        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "signal \(signal)"
            }
        }

        init(waitStatus: Int32) {
            let signal = waitStatus & 0x7f
            self = signal == 0 ? .exited((waitStatus >> 8) & 0xff) : .signaled(signal)
        }
    }

    public let pid: pid_t
    public let executable: String
    private let ended: Ended

    /// Starts `executable` (an absolute path) with `arguments`; `environment` nil passes this process's own.
    /// With `ownProcessGroup` the child leads a process group of its own, which `signalGroup` reaches whole.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        input: Input = .null, output: Output = .null, error: Output? = nil, ownProcessGroup: Bool = false
    ) throws(ChildProcessError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        func add(_ result: Int32, _ what: String) throws(ChildProcessError) {
            guard result == 0 else { throw ChildProcessError("\(executable): cannot \(what): \(String(cString: strerror(result)))") }
        }
        switch input {
        case .null: try add(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "open /dev/null")
        case .descriptor(let fd): try add(posix_spawn_file_actions_adddup2(&actions, fd, 0), "pass descriptor \(fd)")
        }
        for (target, destination) in [(Int32(1), output), (Int32(2), error ?? output)] {
            switch destination {
            case .null:
                try add(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0), "open /dev/null")
            case .file(let path):
                try add(
                    posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644), "open \(path)")
            case .descriptor(let fd):
                try add(posix_spawn_file_actions_adddup2(&actions, fd, target), "pass descriptor \(fd)")
            }
        }
        try add(cspawn_addclosefrom(&actions, 3), "close the other descriptors")

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for entry in envp ?? [] { free(entry) } }
        var pid: pid_t = 0
        let spawned = argv.withUnsafeBufferPointer { argvPointer in
            if let envp {
                envp.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, &attributes, argvPointer.baseAddress!, $0.baseAddress!) }
            } else {
                posix_spawn(&pid, executable, &actions, &attributes, argvPointer.baseAddress!, environ)
            }
        }
        guard spawned == 0 else { throw ChildProcessError("\(executable) did not start: \(String(cString: strerror(spawned)))") }
        return ChildProcess(pid: pid, executable: executable)
    }

    private init(pid: pid_t, executable: String) {
        self.pid = pid
        self.executable = executable
        self.ended = Ended()
    }

    /// How the child ended, once it has (it is then reaped); nil while it runs.
    public var termination: Termination? {
        ended.lock.withLock {
            if ended.termination == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { ended.termination = Termination(waitStatus: status) }
            }
            return ended.termination
        }
    }

    public var isRunning: Bool { termination == nil }

    /// Sends `signal` to the child, unless it has already ended (its pid may then be another process's).
    public func signal(_ signal: Int32) {
        ended.lock.withLock {
            if ended.termination == nil { _ = kill(pid, signal) }
        }
    }

    /// SIGTERM.
    public func terminate() { signal(SIGTERM) }

    /// Sends `signal` to the child's process group (started with `ownProcessGroup`): the child and whatever it
    /// started that is still in it. Its id is not another process's while any member lives.
    public func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    /// Waits for the child to end, blocking the calling thread: call it off Swift's cooperative pool.
    @discardableResult
    public func wait() -> Termination {
        // Blocks until the child ends without reaping it, so that `termination` reaps it under the lock
        // and `signal` never reaches a pid the system has handed to another process.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        while true {
            if let termination { return termination }
            usleep(1_000)
        }
    }

    /// Waits up to `seconds` for the child to end; how it ended, or nil if it still runs.
    public func wait(seconds: Double) -> Termination? {
        let deadline = Date() + seconds
        while Date() < deadline {
            if let termination { return termination }
            usleep(5_000)
        }
        return termination
    }

    /// SIGTERM, then SIGKILL if the child is still there after `grace` seconds; waits for it.
    @discardableResult
    public func stop(grace: Double = 2) -> Termination {
        terminate()
        if let termination = wait(seconds: grace) { return termination }
        signal(SIGKILL)
        return wait()
    }
}

/// What became of the child, guarded: `waitpid` may reap it only once.
private final class Ended: @unchecked Sendable {
    let lock = NSLock()
    var termination: ChildProcess.Termination?
}

public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
