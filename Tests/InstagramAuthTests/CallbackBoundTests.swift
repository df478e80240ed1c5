import Accounts
import Foundation
import Testing

/// Callback records are pruned after a day and never more than `AccountSQL.maxCallbacks`, however many codes
/// arrive within it.
@Suite("Callback records are bounded")
struct CallbackBoundTests {
    @Test(arguments: Backend.allCases) func aClaimRemovesTheOldestBeyondTheCap(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let store = try await backend.open(place)
        let now = Date().timeIntervalSince1970
        let cap = AccountSQL.maxCallbacks
        let outcome = try CallbackOutcome.codeRefused(message: "used").storedForm().replacingOccurrences(of: "'", with: "''")
        // The cap's worth of finished records, made in one statement, the oldest first, the newest still under way.
        let series =
            backend == .sqlite
            ? "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(cap)) SELECT 'h' || i, 't' || i, 'b', CASE WHEN i < \(cap) THEN '\(outcome)' END, \(now) - 7200 + i * 0.01 FROM n"
            : "SELECT 'h' || i, 't' || i, 'b', CASE WHEN i < \(cap) THEN '\(outcome)' END, \(now) - 7200 + i * 0.01 FROM generate_series(1, \(cap)) AS i"
        try await backend.execute("INSERT INTO callback (code_hash, ticket, browser_tag, outcome, created_at) \(series)", at: place)
        guard case .claimed = try await store.claimCallback(codeHash: "newest", browserTag: "b", now: Date()) else {
            Issue.record("the new code was not claimed")
            return
        }
        #expect(try await store.callback(codeHash: "h1") == nil, "the oldest went")
        #expect(try await store.callback(codeHash: "h2") != nil)
        #expect(try await store.callback(codeHash: "h\(cap)") != nil, "a claim under way is never removed for the cap")
        #expect(try await store.callback(codeHash: "newest") != nil)
        await backend.close(store)
    }
}
