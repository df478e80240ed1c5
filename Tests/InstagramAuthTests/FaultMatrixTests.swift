import FastCGI
import Foundation
import InstagramAPI
import InstagramEmulator
import Logging
import Testing

@testable import InstagramAuth

/// Every outgoing call to Instagram under every fault, through the real emulator over real sockets and a real
/// SQLite file: the callback's three calls (code exchange, long-lived exchange, `/me`) and `refresh`'s two
/// (refresh, and the later long-lived exchange of a one-hour token). Each cell checks the page or report, that it
/// came within the timeout, what the database holds afterwards, and that a retry works once the fault is gone.
@Suite("Instagram faults, call by call", .serialized)
struct FaultMatrixTests {
    /// `INSTAGRAM_HTTP_TIMEOUT` in every cell.
    static let timeout: Duration = .seconds(1)
    /// What a cell may take beyond the timeout: the other calls, SQLite, a loaded machine. A bound, not a benchmark:
    /// a call the timeout did not end would hang for ever, and one made twice shows in the emulator's count. The
    /// other suites run meanwhile on two cores (a cell once took 3.4 s). Under a sanitizer (scripts/sanitize)
    /// everything runs several times slower.
    static let margin: Duration =
        ProcessInfo.processInfo.environment.keys.contains { $0.hasSuffix("SAN_OPTIONS") } ? .seconds(8) : .seconds(5)

    enum Fault: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// No answer at all.
        case timeout
        /// A head at once, then a byte now and then, never finishing.
        case trickle
        /// The connection reset instead of an answer.
        case reset
        /// HTTP 500.
        case serverError
        /// HTTP 200 with a body that is not JSON.
        case garbage
        /// A redirect to where a good answer waits: it must not be followed.
        case redirect
        /// A self-signed certificate.
        case untrustedCertificate
        /// A certificate from a trusted CA, for another name.
        case certificateForAnotherName

        var testDescription: String { rawValue }
        var isTLS: Bool { self == .untrustedCertificate || self == .certificateForAnotherName }

        var emulatorFault: Emulator.Fault? {
            switch self {
            case .timeout: .hang
            case .trickle: .trickle
            case .reset: .reset
            case .serverError: .error
            case .garbage: .garbage
            case .redirect: .redirect
            case .untrustedCertificate, .certificateForAnotherName: nil
            }
        }

        func certificate(_ certificates: TestCertificates) -> EmulatorServer.TLSFiles? {
            switch self {
            case .untrustedCertificate: certificates.selfSigned
            case .certificateForAnotherName: certificates.otherName
            default: nil
            }
        }

        var status: Int { self == .timeout || self == .trickle ? 504 : 502 }

        var heading: String {
            switch self {
            case .timeout, .trickle: "Instagram did not answer"
            case .reset: "Instagram could not be reached"
            case .serverError, .garbage, .redirect: "Instagram answered with an error"
            case .untrustedCertificate, .certificateForAnotherName: "Instagram could not be reached securely"
            }
        }

        /// The reason the page gives; `redirectStatus` is 307 for the token POST, 302 for the Graph GETs.
        func reason(redirectStatus: Int) -> String {
            switch self {
            case .timeout, .trickle: "Instagram did not answer within 1 second"
            case .reset: "The connection to Instagram failed"
            case .serverError: "Instagram answered with a server error (HTTP 500)"
            case .garbage: "answer (HTTP 200)"
            case .redirect: "Instagram answered with a redirect (HTTP \(redirectStatus))"
            case .untrustedCertificate: "its certificate could not be verified, so nothing was sent"
            case .certificateForAnotherName: "its certificate is for another host name, so nothing was sent"
            }
        }

        /// What `refresh` reports.
        var report: String {
            switch self {
            case .timeout, .trickle: "Instagram did not answer within 1 s"
            case .reset: "Instagram could not be reached"
            case .serverError: "Instagram answered with something unexpected (HTTP 500)"
            case .garbage: "Instagram answered with something unexpected (HTTP 200): a body that is not JSON"
            case .redirect: "(HTTP 302): a redirect to another address, which is not followed"
            case .untrustedCertificate: "The TLS connection to Instagram failed: its certificate could not be verified"
            case .certificateForAnotherName: "The TLS connection to Instagram failed: its certificate is for another host name"
            }
        }
    }

    enum CallbackCall: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case token, longLived, profile

        var testDescription: String { rawValue }

        var path: String {
            switch self {
            case .token: "/oauth/access_token"
            case .longLived: "/access_token"
            case .profile: "/me"
            }
        }

        /// Where the call goes: a certificate is per host, so the long-lived exchange and `/me` share one.
        var baseURLKey: String { self == .token ? "INSTAGRAM_API_BASE_URL" : "INSTAGRAM_GRAPH_BASE_URL" }
    }

    /// What the callback leaves behind after a fault in `call`.
    enum Aftermath {
        /// The exchange failed before Instagram took the code: nothing stored, the code free for a retry.
        case codeReleased
        /// The long-lived exchange failed: the account is stored with its one-hour token, for `refresh` to exchange.
        case shortLivedKept
        /// `/me` failed after the code was spent: nothing stored, the result kept, and a new authorization needed.
        case nothingStored

        init(_ call: CallbackCall, _ fault: Fault) {
            switch call {
            case .token: self = .codeReleased
            // The same certificate fails `/me` too: nothing can name the account.
            case .longLived: self = fault.isTLS ? .nothingStored : .shortLivedKept
            case .profile: self = .nothingStored
            }
        }
    }

    // MARK: - The callback

    @Test(arguments: CallbackCall.allCases, Fault.allCases)
    func callback(_ call: CallbackCall, _ fault: Fault) async throws {
        let certificates = fault.isTLS ? try await TestCertificates.load() : nil
        let harness = try await PageHarness(
            https: certificates.flatMap { fault.certificate($0) }.map { [call.baseURLKey: $0] } ?? [:],
            trustRoots: certificates?.authority)
        do {
            try await check(call, fault, harness, certificates)
        } catch {
            Issue.record(error)
        }
        try await harness.close()
    }

    private func check(_ call: CallbackCall, _ fault: Fault, _ harness: PageHarness, _ certificates: TestCertificates?) async throws {
        let (state, cookie) = await harness.begin()
        let code = harness.code()
        let callback = "code=\(code)&state=\(state)"
        if let mode = fault.emulatorFault { harness.emulator.setFault(mode, delayMilliseconds: 200, path: call.path) }

        let started = ContinuousClock.now
        let first = await harness.get(callback, cookie: cookie)
        let page = await harness.follow(first, cookie: cookie)
        let elapsed = started.duration(to: .now)
        #expect(elapsed < Self.timeout + Self.margin, "answered after \(elapsed)")
        #expect(
            harness.emulator.count(of: call.path) == (fault.isTLS ? 0 : 1),
            "each call is made once: not retried, no redirect followed, nothing sent past a failed handshake")
        assertNoSecrets(page.text + (first.value(of: "Location") ?? ""), code: code, harness)

        let aftermath = Aftermath(call, fault)
        let reason = fault.reason(redirectStatus: call == .token ? 307 : 302)
        let record = try await harness.store.callback(codeHash: CallbackHandler.codeHash(code))
        switch aftermath {
        case .codeReleased:
            #expect(first.status == fault.status, "answered at once, on the URL with the code, so a reload retries")
            #expect(page.text.contains(fault.heading), "\(page.text)")
            #expect(page.text.contains(reason) && page.text.contains("while exchanging the authorization code"), "\(page.text)")
            #expect(fault != .redirect || page.text.contains("does not follow redirects from Instagram"))
            #expect(fault != .garbage || page.text.contains("was not one this site can read") && page.text.contains("a body that is not JSON"))
            #expect(page.text.contains("Reloading this page tries the same authorization again"))
            #expect(try await harness.store.accounts().isEmpty)
            #expect(record == nil, "the code is not marked used")
        case .shortLivedKept:
            #expect(first.status == 303)
            #expect(page.status == 200)
            #expect(page.text.contains("@tester (17841405793187218)"))
            #expect(page.text.contains("valid for an hour only"))
            let accounts = try await harness.store.accounts()
            #expect(accounts.count == 1)
            let account = try #require(accounts.first)
            #expect(account.username == "tester" && account.accountType == "BUSINESS" && account.status == .active)
            #expect(!account.isLongLived)
            #expect(account.accessToken.hasPrefix("IGAA"))
            #expect(abs(account.tokenExpiresAt.timeIntervalSince(account.tokenObtainedAt) - 3600) < 1)
            #expect(record?.outcome == .connected(userID: "17841405793187218"))
        case .nothingStored:
            #expect(first.status == 303, "the code is spent: the browser moves to a clean URL")
            #expect(page.status == fault.status)
            #expect(page.text.contains(fault.heading), "\(page.text)")
            #expect(page.text.contains(reason) && page.text.contains("while looking up the account"), "\(page.text)")
            #expect(fault != .redirect || page.text.contains("does not follow redirects from Instagram"))
            #expect(fault != .garbage || page.text.contains("was not one this site can read") && page.text.contains("a body that is not JSON"))
            #expect(page.text.contains("No account was connected. Start again"))
            #expect(try await harness.store.accounts().isEmpty)
            // The store keeps what happened; the page's words come from it.
            guard case .lookupFailed = record?.outcome, let outcome = record?.outcome else {
                Issue.record("kept as \(String(describing: record?.outcome))")
                return
            }
            #expect(PageError(refused: outcome).status == fault.status)
            // A reload shows the same page and does not send the spent code to Instagram again.
            let reload = await harness.visit(callback, cookie: cookie)
            #expect(reload.status == fault.status && reload.text == page.text)
            #expect(harness.emulator.count(of: "/oauth/access_token") == 1)
        }

        // The fault goes away (for TLS: Instagram shows a good certificate) and the promised retry works.
        harness.emulator.setFault(.none)
        var fixed = harness.page
        if let certificates {
            let good = try await harness.startSecureServer(certificates.good)
            fixed = try harness.page([call.baseURLKey: good.baseURL])
        }
        switch aftermath {
        case .codeReleased:
            let retry = await harness.visit(callback, cookie: cookie, on: fixed)
            #expect(retry.status == 200, "the same code works once Instagram does: \(retry.text)")
            #expect(retry.text.contains("@tester (17841405793187218)"))
            #expect(try await harness.store.account("tester")?.isLongLived == true)
        case .shortLivedKept:
            let report = try await job(harness, endpoints: harness.page.configuration.endpoints).run()
            guard case .refreshed = report.lines.first?.effect else {
                Issue.record("the one-hour token was not exchanged later: \(report.summary)")
                return
            }
            #expect(try await harness.store.account("tester")?.isLongLived == true)
        case .nothingStored:
            let again = await harness.begin()
            let retry = await harness.visit("code=\(harness.code())&state=\(again.state)", cookie: again.cookie, on: fixed)
            #expect(retry.status == 200, "a new authorization works: \(retry.text)")
            let account = try #require(try await harness.store.account("tester"))
            #expect(account.isLongLived && account.username == "tester")
        }
        assertNoSecrets(harness.logs.text, code: code, harness)
    }

    // MARK: - refresh

    enum RefreshCall: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// A long-lived token that is due.
        case refresh
        /// A one-hour token left by a failed long-lived exchange, exchanged by `refresh`.
        case longLivedExchange

        var testDescription: String { rawValue }
        var path: String { self == .refresh ? "/refresh_access_token" : "/access_token" }
    }

    @Test(arguments: RefreshCall.allCases, Fault.allCases)
    func refresh(_ call: RefreshCall, _ fault: Fault) async throws {
        let certificates = fault.isTLS ? try await TestCertificates.load() : nil
        let harness = try await PageHarness(trustRoots: certificates?.authority)
        do {
            try await check(call, fault, harness, certificates)
        } catch {
            Issue.record(error)
        }
        try await harness.close()
    }

    private func check(_ call: RefreshCall, _ fault: Fault, _ harness: PageHarness, _ certificates: TestCertificates?) async throws {
        if call == .longLivedExchange { harness.emulator.setFault(.error, path: "/access_token") }
        let (state, cookie) = await harness.begin()
        #expect(await harness.visit("code=\(harness.code())&state=\(state)", cookie: cookie).status == 200)
        harness.emulator.setFault(.none)
        var connected = try #require(try await harness.store.account("tester"))
        #expect(connected.isLongLived == (call == .refresh))
        if call == .refresh {
            // Two days old, ten days before expiry: due. The emulator agrees it is old enough to refresh.
            connected.tokenObtainedAt = Date() - 2 * 86_400
            connected.tokenExpiresAt = Date() + 10 * 86_400
            try await harness.store.save(connected)
            _ = harness.emulator.handle(method: "POST", path: "/_emulator/age-tokens", query: ["seconds": "172800"], form: [:])
        }
        let before = try #require(try await harness.store.account("tester"))
        let counted = harness.emulator.count(of: call.path)

        var endpoints = harness.page.configuration.endpoints
        if let files = certificates.flatMap({ fault.certificate($0) }) {
            endpoints.graphBaseURL = try await harness.startSecureServer(files).baseURL
        }
        if let mode = fault.emulatorFault { harness.emulator.setFault(mode, delayMilliseconds: 200, path: call.path) }
        let started = ContinuousClock.now
        let report = try await job(harness, endpoints: endpoints).run()
        let elapsed = started.duration(to: .now)
        #expect(elapsed < Self.timeout + Self.margin, "reported after \(elapsed)")
        #expect(harness.emulator.count(of: call.path) - counted == (fault.isTLS ? 0 : 1))

        #expect(report.lines.count == 1)
        guard case .failed(let reason) = report.lines.first?.effect else {
            Issue.record("not reported as failed: \(report.lines.map(\.effect))")
            return
        }
        #expect(reason.contains(fault.report), "\(reason)")
        #expect(report.failures == 1, "so the command exits 1")
        #expect(report.summary.hasSuffix("0 need a new authorization, 1 failed"))
        assertNoSecrets(reason, code: nil, harness, token: before.accessToken)

        // The stored token is untouched; the failure is noted and the account stays active, to be retried.
        let after = try #require(try await harness.store.account("tester"))
        #expect(after.accessToken == before.accessToken)
        #expect(after.isLongLived == before.isLongLived)
        #expect(after.tokenObtainedAt == before.tokenObtainedAt && after.tokenExpiresAt == before.tokenExpiresAt)
        #expect(after.status == .active && after.lastRefreshAt == nil)
        #expect(after.lastRefreshError == reason)

        harness.emulator.setFault(.none)
        if let certificates {
            endpoints.graphBaseURL = try await harness.startSecureServer(certificates.good).baseURL
        }
        let again = try await job(harness, endpoints: endpoints).run()
        guard case .refreshed = again.lines.first?.effect else {
            Issue.record("the next run did not renew the token: \(again.summary)")
            return
        }
        let renewed = try #require(try await harness.store.account("tester"))
        #expect(renewed.accessToken != before.accessToken && renewed.isLongLived && renewed.lastRefreshError == nil)
        assertNoSecrets(harness.logs.text, code: nil, harness, token: before.accessToken)
    }

    // MARK: - Helpers

    private func job(_ harness: PageHarness, endpoints: Endpoints) -> RefreshJob {
        let configuration = harness.page.configuration
        return RefreshJob(
            client: InstagramClient(
                profile: configuration.profile, credentials: configuration.credentials, endpoints: endpoints,
                transport: harness.transport),
            store: harness.store, window: 30 * 86_400, logger: harness.logs.logger())
    }

    /// No app secret, code or whole token: pages show the account, logs shortened values.
    private func assertNoSecrets(
        _ text: String, code: String?, _ harness: PageHarness, token: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(!text.contains(PageHarness.secret), "the app secret", sourceLocation: sourceLocation)
        if let code { #expect(!text.contains(code), "the code", sourceLocation: sourceLocation) }
        if let token { #expect(!text.contains(token), "the token", sourceLocation: sourceLocation) }
        #expect(text.range(of: "IGAA[A-Za-z0-9]{8}", options: .regularExpression) == nil, "a token", sourceLocation: sourceLocation)
        #expect(!text.contains(Emulator.redirectedMarker), "a redirect's address", sourceLocation: sourceLocation)
    }
}
