import Accounts
import FastCGI
import Foundation
import Testing

@testable import InstagramAuth

/// The status page's readers and settings, and what `accounts --check` calls attention.
@Suite("Monitoring")
struct MonitoringUnitTests {
    static func settings(_ values: [String: String]) throws -> MonitoringSettings {
        try Configuration.load(environment: [
            "INSTAGRAM_APP_ID": "4242", "INSTAGRAM_APP_SECRET": "monitoring-secret", "INSTAGRAM_REDIRECT_URI": "https://example.com/instagram/",
            "INSTAGRAM_AUTH_DATABASE": "/nonexistent/accounts.sqlite3", "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
        ].merging(values) { $1 }).monitoring
    }

    @Test func theStatusPageIsForLoopbackAndTheListedAddresses() throws {
        let loopbackOnly = try Self.settings([:])
        for address in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] { #expect(loopbackOnly.mayReadStatus(from: address), "\(address)") }
        for address in ["10.0.0.1", "::2", "128.0.0.1", "", "localhost", "::ffff:10.0.0.1"] { #expect(!loopbackOnly.mayReadStatus(from: address), "\(address)") }
        let listed = try Self.settings(["INSTAGRAM_AUTH_STATUS_ALLOW": "10.0.0.1,2001:db8::1"])
        #expect(listed.mayReadStatus(from: "10.0.0.1") && listed.mayReadStatus(from: "::ffff:10.0.0.1") && listed.mayReadStatus(from: "2001:db8:0:0::1"))
        #expect(!listed.mayReadStatus(from: "10.0.0.2"))
        #expect(try Self.settings(["INSTAGRAM_AUTH_STATUS_ALLOW": "*"]).mayReadStatus(from: "198.51.100.1"))
    }

    @Test func badMonitoringSettingsAreRefusedNamingTheKey() {
        for (key, value) in [
            ("INSTAGRAM_AUTH_STATUS_ALLOW", "10.0.0.0/8"), ("INSTAGRAM_AUTH_STATUS_ALLOW", "monitor.example.com"),
            ("INSTAGRAM_AUTH_SLOW_REQUEST", "0"), ("INSTAGRAM_AUTH_SLOW_REQUEST", "soon"), ("INSTAGRAM_AUTH_SLOW_REQUEST", "nan"),
            ("INSTAGRAM_AUTH_LOG_FORMAT", "xml"),
        ] {
            let error = #expect(throws: ConfigurationError.self, "\(key)=\(value)") { try Self.settings([key: value]) }
            #expect(error?.key == key)
        }
        #expect((try? Self.settings(["INSTAGRAM_AUTH_SLOW_REQUEST": "0.25"]))?.slowRequestSeconds == 0.25)
        #expect(try! Configuration.logFormat(environment: ["INSTAGRAM_AUTH_LOG_FORMAT": "json"]) == .json)
        #expect(try! Configuration.logFormat(environment: [:], configFile: "/nonexistent/file.conf") == .text, "loading the configuration says why")
    }

    @Test func accountsNeedAttentionAsTheirTokensAge() {
        let now = Date()
        func account(expiresIn days: Double, status: Account.Status = .active, refreshError: String? = nil, longLived: Bool = true) -> Account {
            Account(
                userID: "1", username: "a", accessToken: "IGAAtoken", isLongLived: longLived, tokenObtainedAt: now,
                tokenExpiresAt: now + days * 86_400, status: status, lastRefreshError: refreshError, connectedAt: now)
        }
        func assess(_ account: Account, feedFailure: String? = nil) -> AccountAttention {
            AccountAttention(account, feedFailure: feedFailure, now: now, warnDays: 14, criticalDays: 3)
        }
        #expect(assess(account(expiresIn: 50)).severity == .ok && assess(account(expiresIn: 50)).reasons.isEmpty)
        #expect(assess(account(expiresIn: 10)).severity == .warning)
        #expect(assess(account(expiresIn: 2)).severity == .critical)
        #expect(assess(account(expiresIn: -1)).reasons.first?.contains("expired") == true)
        #expect(assess(account(expiresIn: 50, refreshError: "timed out")).severity == .warning)
        #expect(assess(account(expiresIn: 50), feedFailure: "HTTP 500").reasons == ["its feed's last fetch failed (the last good copy is served): HTTP 500"])
        #expect(assess(account(expiresIn: 0.04, longLived: false)).severity == .critical)
        #expect(assess(account(expiresIn: 50, status: .needsAuthorization)).severity == .critical)
        #expect(assess(account(expiresIn: 50, status: .deauthorized)).severity == .critical)
    }
}
