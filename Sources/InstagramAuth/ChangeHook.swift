import ChildProcess
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The site's own command run when an account changes (`INSTAGRAM_AUTH_ON_CHANGE`), as certbot runs its
/// deploy hooks: after an account connects, its token is refreshed, it needs a new authorization, or its feed
/// changes. It runs off every request's path, with a timeout, with only its standard input (`/dev/null`),
/// output and error (this process's error) open, and an environment of its own that says what happened —
/// never the token, never this process's secrets.
public final class ChangeHook: Sendable {
    public enum Event: String, Sendable {
        case connected
        case refreshed
        case needsAuthorization = "needs_authorization"
        case feedChanged = "feed_changed"
    }

    static let failuresKept = 100

    /// The command: an absolute path to an executable, run without a shell; nil runs nothing.
    public let command: String?
    public let timeoutSeconds: Double
    private let logger: Logger
    private let running = Mutex<[UInt64: Task<Void, Never>]>([:])
    private let next = Atomic<UInt64>(0)
    private let failed = Mutex<[String]>([])

    public init(command: String?, timeoutSeconds: Double = 30, logger: Logger) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
    }

    /// Starts the command for `event` in the background; `waitForAll` waits for it.
    public func run(_ event: Event, userID: String, username: String?) {
        guard let command else { return }
        let id = next.wrappingAdd(1, ordering: .relaxed).oldValue
        running.withLock { tasks in
            // The entry goes when the run ends; it cannot end before it is there, as the lock is held.
            tasks[id] = Timeline.background {
                if let failure = await self.execute(command, event, userID: userID, username: username) {
                    self.logger.error("INSTAGRAM_AUTH_ON_CHANGE failed", metadata: ["event": "\(event.rawValue)", "user_id": "\(userID)", "error": "\(failure)"])
                    self.failed.withLock { list in
                        // Kept for a command's report; a responder that never asks keeps only the latest.
                        if list.count >= Self.failuresKept { list.removeFirst() }
                        list.append("\(event.rawValue) for \(username.map { "@\($0)" } ?? userID): \(failure)")
                    }
                }
                _ = self.running.withLock { $0.removeValue(forKey: id) }
            }
        }
    }

    /// Waits for every run started so far, and gives what failed (once: the list is emptied).
    @discardableResult
    public func waitForAll() async -> [String] {
        while let task = running.withLock({ $0.values.first }) { await task.value }
        return failed.withLock { list in
            defer { list = [] }
            return list
        }
    }

    /// Runs the command once and waits for it, off Swift's pool; why it failed, or nil.
    private func execute(_ command: String, _ event: Event, userID: String, username: String?) async -> String? {
        var environment = [
            "INSTAGRAM_AUTH_EVENT": event.rawValue, "INSTAGRAM_AUTH_USER_ID": userID,
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
        ]
        if let username { environment["INSTAGRAM_AUTH_USERNAME"] = username }
        let timeout = timeoutSeconds
        let childEnvironment = environment
        return await withCheckedContinuation { done in
            let thread = Thread {
                let child: ChildProcess
                do {
                    child = try ChildProcess.start(
                        command, [], environment: childEnvironment, input: .null, output: .descriptor(STDERR_FILENO), ownProcessGroup: true)
                } catch {
                    done.resume(returning: "it could not be started: \(error)")
                    return
                }
                if let end = child.wait(seconds: timeout) {
                    done.resume(returning: end == .exited(0) ? nil : "it ended with \(end)")
                    return
                }
                // The whole group: a script's own children are stopped with it.
                child.signalGroup(SIGTERM)
                if child.wait(seconds: 5) == nil {
                    child.signalGroup(SIGKILL)
                    _ = child.wait()
                }
                done.resume(returning: "it ran longer than \(Int(timeout)) s and was stopped")
            }
            thread.name = "on-change"
            thread.start()
        }
    }
}
