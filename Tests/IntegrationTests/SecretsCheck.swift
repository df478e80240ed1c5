import AsyncHTTPClient
import ChildProcess
import Foundation
import InstagramAPI
import InstagramAuth
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to its end with `input` on stdin; its exit status, stdout and stderr.
/// The wait happens on a thread of its own: a test blocking the cooperative pool (two threads on a
/// two-core machine) would stall every other test in the process for as long as the program runs.
func runToEnd(
    _ executable: String, _ arguments: [String], environment: [String: String], input: String = ""
) async throws -> (status: Int32, out: String, err: String) {
    let finished = try await offPool {
        try ChildProcess.run(executable, arguments, environment: Paths.childEnvironment(environment), input: Array(input.utf8))
    }
    return (finished.status, finished.outputText, finished.errorText)
}

/// Runs `body` against a fresh stack, then checks secrets hygiene: the app secret and the state
/// secret never appear in a page, a header, a log line or a command's output; tokens and codes
/// never whole in the responder's log (shortened is fine), and not at all in pages.
func withStack(_ options: Stack.Options = .init(), _ body: (Stack) async throws -> Void) async throws {
    let stack = try await Stack(options)
    do {
        try await body(stack)
    } catch {
        await stack.shutdown()
        throw error
    }
    // The secrets a test adds to the configuration (a token key, a Meta app secret) are checked too.
    let added = options.settings.filter { Configuration.secretKeys.contains($0.key) }.map(\.value)
    expectNoSecrets(
        logs: [stack.responderLog], seen: stack.seen, showsTokens: stack.showsTokens,
        secrets: [Stack.appSecret, Stack.stateSecret] + added)
    await stack.shutdown()
}

/// The secrets check after a test: `secrets` (the app and state secrets, and any other) never in a log or
/// anything seen (pages, headers, command output); no whole token or code in a log; no code in a page,
/// nor a token unless the page shows tokens by request.
func expectNoSecrets(logs: [String], seen: [String], showsTokens: Bool, secrets: [String] = [Stack.appSecret, Stack.stateSecret]) {
    for text in logs + seen {
        for secret in secrets { #expect(!text.contains(secret), "a secret in \(text.prefix(300))") }
    }
    for log in logs {
        #expect(log.range(of: #"IGAA[A-Za-z0-9]{20}"#, options: .regularExpression) == nil, "a whole token in the log")
        #expect(log.range(of: #"AQ[A-Za-z0-9]{20}"#, options: .regularExpression) == nil, "a whole code in the log")
    }
    // Codes and tokens as they would appear on their own; a signed state may contain "AQ" by chance.
    for page in seen {
        if let code = page.range(of: #"(?<![A-Za-z0-9_.-])AQ[A-Za-z0-9_-]{40}"#, options: .regularExpression) {
            Issue.record("a code in a page: …\(page[(page.index(code.lowerBound, offsetBy: -200, limitedBy: page.startIndex) ?? page.startIndex)..<code.upperBound])")
        }
        if !showsTokens {
            #expect(page.range(of: #"(?<![A-Za-z0-9_.-])IGAA[A-Za-z0-9_-]{8}"#, options: .regularExpression) == nil, "a token in \(page.prefix(300))")
        }
    }
}

/// A cookie jar: what one visitor's browser would keep.
final class Browser: @unchecked Sendable {
    private let lock = NSLock()
    private var cookies: [String: String] = [:]

    var cookieHeader: String? {
        lock.withLock { cookies.isEmpty ? nil : cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
    }

    func remember(_ headers: HTTPHeaders) {
        for header in headers["Set-Cookie"] {
            let pair = header.split(separator: ";", maxSplits: 1)[0].split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            lock.withLock { cookies[String(pair[0]).trimmingCharacters(in: .whitespaces)] = String(pair[1]) }
        }
    }
}
