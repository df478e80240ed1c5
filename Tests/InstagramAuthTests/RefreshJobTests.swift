import Accounts
import Foundation
import InstagramAPI
import Logging
import Testing

@testable import InstagramAuth

/// `RefreshJob` against the emulator, with stored tokens made to look old.
@Suite("Refreshing tokens", .serialized)
struct RefreshJobTests {
    func connect(_ harness: PageHarness) async throws -> Account {
        let (state, cookie) = await harness.begin()
        #expect(await harness.visit("code=\(harness.code())&state=\(state)", cookie: cookie).status == 200)
        return try #require(try await harness.store.account("tester"))
    }

    func job(_ harness: PageHarness) -> RefreshJob {
        RefreshJob(
            client: InstagramClient(
                profile: harness.page.configuration.profile, credentials: harness.page.configuration.credentials,
                endpoints: harness.page.configuration.endpoints, transport: harness.transport),
            store: harness.store, window: 30 * 86_400, logger: Logger(label: "test"))
    }

    /// Makes the stored token two days old and due in ten days, and the emulator agree it is old.
    func age(_ account: Account, _ harness: PageHarness) async throws {
        var old = account
        old.tokenObtainedAt = Date() - 2 * 86_400
        old.tokenExpiresAt = Date() + 10 * 86_400
        try await harness.store.save(old)
        _ = harness.emulator.handle(method: "POST", path: "/_emulator/age-tokens", query: ["seconds": "172800"], form: [:])
    }

    @Test func refreshesADueTokenAndLeavesOthers() async throws {
        let harness = try await PageHarness()
        let account = try await connect(harness)
        let fresh = try await job(harness).run()
        #expect(fresh.lines.map(\.effect) == [.notDue(expiresAt: account.tokenExpiresAt)])

        try await age(account, harness)
        let report = try await job(harness).run()
        guard case .refreshed(let expiresAt) = report.lines.first?.effect else {
            Issue.record("not refreshed: \(report.summary)")
            return
        }
        #expect(expiresAt > Date() + 59 * 86_400)
        #expect(report.failures == 0)
        let stored = try #require(try await harness.store.account("tester"))
        #expect(stored.accessToken != account.accessToken)
        #expect(stored.lastRefreshAt != nil)
        #expect(harness.emulator.count(of: "/refresh_access_token") == 1)
        try await harness.close()
    }

    @Test func aRejectedTokenMarksTheAccount() async throws {
        let harness = try await PageHarness()
        var account = try await connect(harness)
        account.accessToken = "IGAArevoked"
        try await age(account, harness)
        let report = try await job(harness).run()
        guard case .needsAuthorization(let reason) = report.lines.first?.effect else {
            Issue.record("not marked: \(report.summary)")
            return
        }
        #expect(reason.contains("code 190"))
        #expect(report.failures == 1)
        #expect(try await harness.store.account("tester")?.status == .needsAuthorization)
        let again = try await job(harness).run()
        #expect(again.failures == 1, "it stays reported until authorized again")
        #expect(harness.emulator.count(of: "/refresh_access_token") == 1)
        try await harness.close()
    }

    /// Instagram's faults during a refresh (and the one-hour token's later exchange) are `FaultMatrixTests`.
    @Test func busyAndExpired() async throws {
        let harness = try await PageHarness()
        let account = try await connect(harness)
        try await age(account, harness)
        #expect(try await harness.store.claimRefresh(userID: account.userID, token: account.accessToken, now: Date()))
        #expect(try await job(harness).run().lines.first?.effect == .busy)

        var expired = account
        expired.tokenExpiresAt = Date() - 1
        try await harness.store.save(expired)
        guard case .needsAuthorization = try await job(harness).run().lines.first?.effect else {
            Issue.record("an expired token was not reported")
            return
        }
        try await harness.close()
    }
}
