import Foundation
import SQLiteStore
import Testing

/// `INSTAGRAM_AUTH_ON_CHANGE`: the site's command, run with what happened in its environment, off the
/// request's path, with nothing of the responder's open but its standard streams.
@Suite("The change hook", .serialized)
struct ChangeHookTests {
    /// A hook that writes one line per run: its event and account, then what it could see.
    func hook(in folder: String, exitStatus: Int = 0) throws -> (script: String, log: String) {
        let script = folder + "/on-change.sh"
        let log = folder + "/on-change.log"
        try """
        #!/bin/sh
        {
          echo "event=$INSTAGRAM_AUTH_EVENT user=$INSTAGRAM_AUTH_USER_ID name=$INSTAGRAM_AUTH_USERNAME"
          env | sed 's/^/env: /'
          for fd in /proc/$$/fd/*; do echo "fd: ${fd##*/} $(readlink "$fd")"; done
        } >> \(log)
        exit \(exitStatus)
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return (script, log)
    }

    func lines(_ log: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Waits until the hook has written a line for `event`.
    func waitFor(_ event: String, in log: String) async throws {
        for _ in 0..<100 {
            if lines(log).contains(where: { $0.hasPrefix("event=\(event) ") }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StackError("no \(event) run of the hook within 10 s: \(lines(log))")
    }

    @Test func itRunsWithWhatHappenedAndNothingElse() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hook-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (script, log) = try hook(in: folder)
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_ON_CHANGE": script])) { stack in
            _ = try await AccountFlowTests().connect(stack)
            try await waitFor("connected", in: log)
            try await waitFor("feed_changed", in: log)
            let seen = lines(log)
            #expect(seen.contains("event=connected user=17841405793187218 name=emulated.creator"))
            #expect(seen.contains("event=feed_changed user=17841405793187218 name=emulated.creator"))
            let environment = seen.filter { $0.hasPrefix("env: ") }
            #expect(!environment.contains { $0.contains("IGAA") || $0.contains(Stack.appSecret) || $0.contains("INSTAGRAM_APP") || $0.contains("INSTAGRAM_AUTH_CONFIG") },
                "neither a token nor this process's settings: \(environment)")
            let descriptors = seen.filter { $0.hasPrefix("fd: ") }
            #expect(!descriptors.isEmpty)
            #expect(!descriptors.contains { $0.contains("socket:") || $0.contains("accounts.sqlite3") || $0.contains(".sock") },
                "no socket and no database open in the hook: \(descriptors)")

            // The same feed fetched again is no change; a different one is.
            let feed = FeedTests()
            let aged = try await feed.ageCopy(stack)
            _ = try await stack.request(feed.feedURL(stack))
            _ = try await feed.afterFetch(stack, since: aged)
            #expect(lines(log).filter { $0.hasPrefix("event=feed_changed") }.count == 1)
            try await stack.emulatorControl("/_emulator/media?count=5")
            let refreshed = try await stack.command(["feed", "--refresh"])
            #expect(refreshed.status == 0, "\(refreshed.err)")
            #expect(lines(log).filter { $0.hasPrefix("event=feed_changed") }.count == 2, "feed --refresh waits for the hook it ran")
        }
    }

    @Test func aFailingHookIsLoggedAndReportedAndBlocksNothing() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hook-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (script, log) = try hook(in: folder, exitStatus: 3)
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_ON_CHANGE": script])) { stack in
            let page = try await AccountFlowTests().connect(stack)
            #expect(page.status == 200, "the visitor's page does not depend on the hook")
            try await FeedTests().waitForFetches(stack)
            try await waitFor("connected", in: log)
            #expect(try await stack.request(FeedTests().feedURL(stack)).status == 200)

            try await stack.emulatorControl("/_emulator/media?count=4")
            _ = try await FeedTests().ageCopy(stack)
            let refresh = try await stack.command(["refresh"])
            #expect(refresh.status == 1)
            #expect(refresh.out.contains("feed fetched, 4 posts"))
            #expect(refresh.out.contains("INSTAGRAM_AUTH_ON_CHANGE FAILED: feed_changed for @emulated.creator: it ended with exit status 3"), "\(refresh.out)")
            for _ in 0..<50 where !stack.responderLog.contains("INSTAGRAM_AUTH_ON_CHANGE failed") { try await Task.sleep(for: .milliseconds(100)) }
            #expect(stack.responderLog.contains("INSTAGRAM_AUTH_ON_CHANGE failed"))
        }
    }

    @Test func aHookThatIsNoExecutableStopsTheStart() async throws {
        let check = try await runToEnd(
            try Paths.product("instagram-auth"), ["check"],
            environment: [
                "INSTAGRAM_APP_ID": "1", "INSTAGRAM_APP_SECRET": "s", "INSTAGRAM_REDIRECT_URI": "http://127.0.0.1/instagram/",
                "INSTAGRAM_AUTH_ALLOWED_USERS": "*", "INSTAGRAM_AUTH_ON_CHANGE": "notify.sh",
            ])
        #expect(check.status != 0)
        #expect(check.out.contains("INSTAGRAM_AUTH_ON_CHANGE") || check.err.contains("INSTAGRAM_AUTH_ON_CHANGE"))
    }
}
