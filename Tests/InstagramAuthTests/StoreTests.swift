import Accounts
import Foundation
import GRDB
import PostgresStore
import SQLiteStore
import TestSupport
import Testing

@testable import InstagramAuth

func temporaryDatabase() throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("accounts.sqlite3").path
}

func sampleAccount(_ id: String = "17841405793187218", username: String? = "Shop.Owner", token: String = "IGAAfirst", now: Date = Date()) -> Account {
    Account(
        userID: id, username: username, accountType: "BUSINESS", accessToken: token, isLongLived: true,
        tokenObtainedAt: now, tokenExpiresAt: now + 60 * 86_400, permissions: ["instagram_business_basic"], connectedAt: now)
}

/// The two stores behind `AccountStore`; the behaviour tests run against both, on a real SQLite file
/// and a real PostgreSQL server.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// Where a fresh store lives: a new file, or a new database. Off the cooperative pool: starting the
    /// server and creating a database wait for other processes.
    func newPlace() async throws -> String {
        switch self {
        case .sqlite: return try temporaryDatabase()
        case .postgres:
            return try await offPool { try PostgresServer.shared.get().newDatabase() }
        }
    }

    /// A handle on the store at `place`; a second handle on the same place sees the same accounts.
    func open(_ place: String) async throws -> any AccountStore {
        switch self {
        case .sqlite: return try SQLiteAccountStore(path: place)
        case .postgres: return try await PostgresAccountStore(try PostgresLocation(url: place))
        }
    }

    func close(_ store: any AccountStore) async {
        await store.close()
    }

    /// Runs SQL on the store at `place` behind the store's back.
    func execute(_ sql: String, at place: String) async throws {
        switch self {
        case .sqlite: try await DatabaseQueue(path: place).write { try $0.execute(sql: sql) }
        case .postgres:
            let database = String(place.split(separator: "/").last ?? "")
            _ = try await offPool { try PostgresServer.shared.get().psql(database, sql) }
        }
    }

    /// Where the store records the migrations it applied.
    var migrationsTable: String { self == .sqlite ? "grdb_migrations" : "instagram_auth_migrations" }
}

@Suite("The account stores")
struct StoreTests {
    @Test func createsAPrivateFileWithTheSchema() async throws {
        let path = try temporaryDatabase()
        let store = try SQLiteAccountStore(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try await store.appliedMigrations() == ["v1: accounts and callbacks", "v2: callback age index", "v3: callback outcomes as meaning", "v4: deletions", "v5: a state used once", "v6: feeds", "v7: store check"])
        #expect(try await store.integrityCheck() == "ok")
        #expect(throws: StoreError.self) { try SQLiteAccountStore(path: "/nonexistent-folder/a.sqlite3") }
    }

    @Test(arguments: Backend.allCases) func savingTheSameAccountAgainUpdatesItInPlace(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let store = try await backend.open(place)
        let first = sampleAccount(now: Date(timeIntervalSince1970: 1_800_000_000))
        try await store.save(first)
        var again = sampleAccount(username: nil, token: "IGAAsecond")
        again.status = .active
        try await store.save(again)
        let all = try await store.accounts()
        #expect(all.count == 1)
        #expect(all[0].accessToken == "IGAAsecond")
        #expect(all[0].username == "Shop.Owner", "a missing username does not erase the known one")
        #expect(all[0].connectedAt == first.connectedAt, "first connection time is kept")
        #expect(try await store.account("@shop.owner")?.userID == "17841405793187218")
        #expect(try await store.account("17841405793187218")?.username == "Shop.Owner")
        #expect(try await store.account("nobody") == nil)
        // A second handle on the same place sees it: the state lives in the store, not the process.
        let second = try await backend.open(place)
        #expect(try await second.accounts().count == 1)
        await backend.close(second)
        await backend.close(store)
    }

    @Test(arguments: Backend.allCases) func oneRefreshAtATimeAndNoOverwritingANewerAuthorization(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        let now = Date()
        try await store.save(sampleAccount(now: now))
        #expect(try await store.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now))
        #expect(try await !store.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now + 10))
        #expect(try await store.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now + 301), "a stale claim is taken over")
        #expect(try await !store.claimRefresh(userID: "17841405793187218", token: "IGAAold", now: now + 700), "a token read before a refresh is not refreshed again")

        try await store.save(sampleAccount(token: "IGAAreauthorized", now: now))
        try await store.storeRefreshed(
            userID: "17841405793187218", previousToken: "IGAAfirst", token: "IGAArefreshed", isLongLived: true,
            expiresAt: now + 100, now: now)
        #expect(try await store.account("17841405793187218")?.accessToken == "IGAAreauthorized")

        try await store.storeRefreshed(
            userID: "17841405793187218", previousToken: "IGAAreauthorized", token: "IGAArefreshed", isLongLived: true,
            expiresAt: now + 100, now: now)
        let refreshed = try #require(try await store.account("17841405793187218"))
        #expect(refreshed.accessToken == "IGAArefreshed")
        #expect(refreshed.lastRefreshAt != nil)

        try await store.recordRefreshFailure(userID: "17841405793187218", token: "IGAAreauthorized", error: "code 190", needsAuthorization: true, now: now)
        #expect(try await store.account("17841405793187218")?.status == .active, "a failure of a token no longer stored changes nothing")
        try await store.recordRefreshFailure(userID: "17841405793187218", token: "IGAArefreshed", error: "code 190", needsAuthorization: true, now: now)
        let failed = try #require(try await store.account("17841405793187218"))
        #expect(failed.status == .needsAuthorization)
        #expect(failed.statusDetail == "code 190")
        await backend.close(store)
    }

    /// Before v3 a store kept a refused code's outcome as the words of its page. v3 reads them back into what
    /// happened, so the page is worded when it is shown.
    @Test(arguments: Backend.allCases) func outcomesKeptAsPageWordsAreMigratedToWhatHappened(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let store = try await backend.open(place)
        let legacy: [(name: String, json: String, outcome: CallbackOutcome)] = [
            (
                "connected",
                #"{"kind":"connected","userID":"17841405793187218","status":200,"heading":"Instagram account connected","message":""}"#,
                .connected(userID: "17841405793187218")
            ),
            (
                "refused",
                #"{"kind":"refused","status":400,"heading":"Instagram did not accept the authorization","message":"Instagram refused to exchange the code for an access token.","detail":"This authorization code has been used","hint":"Each authorization code works only once. Start again to get a new one."}"#,
                .codeRefused(message: "This authorization code has been used")
            ),
            (
                "stranger",
                #"{"kind":"refused","status":403,"heading":"This account may not connect here","message":"The Instagram account @stranger.shop (17841400000000001) is not on this site's list of allowed accounts, so it was not connected."}"#,
                .notAllowed(userID: "17841400000000001", username: "stranger.shop")
            ),
            (
                "slow",
                #"{"kind":"refused","status":504,"heading":"Instagram did not answer","message":"Instagram did not answer within 1 minute while looking up the account. Please try again in a few minutes.","hint":"No account was connected. Start again to authorize once more."}"#,
                .lookupFailed(failure: InstagramFailure(.timedOut, number: 60))
            ),
            (
                "broken",
                #"{"kind":"refused","status":502,"heading":"Instagram answered with an error","message":"Instagram answered with a server error (HTTP 500) while looking up the account. Please try again in a few minutes.","detail":"oops"}"#,
                .lookupFailed(failure: InstagramFailure(.unexpectedResponse, number: 500, detail: "oops"))
            ),
            (
                "insecure",
                #"{"kind":"refused","status":502,"heading":"Instagram could not be reached securely","message":"The secure connection to Instagram failed while looking up the account: the certificate is not trusted, so nothing was sent. If this lasts, tell the site's owner."}"#,
                .lookupFailed(failure: InstagramFailure(.tlsFailed, detail: "the certificate is not trusted"))
            ),
        ]
        for row in legacy {
            let json = row.json.replacingOccurrences(of: "'", with: "''")
            try await backend.execute(
                "INSERT INTO callback (code_hash, ticket, browser_tag, outcome, created_at) VALUES ('\(row.name)', 'ticket-\(row.name)', 'b', '\(json)', \(Date().timeIntervalSince1970))",
                at: place)
        }
        try await backend.execute("DELETE FROM \(backend.migrationsTable) WHERE identifier = 'v3: callback outcomes as meaning'", at: place)
        await backend.close(store)

        let migrated = try await backend.open(place)
        #expect(try await migrated.appliedMigrations().contains("v3: callback outcomes as meaning"))
        for row in legacy {
            #expect(try await migrated.callback(ticket: "ticket-\(row.name)")?.outcome == row.outcome, "\(row.name)")
        }
        // The page a migrated outcome shows says what the old one said.
        let stranger = PageError(refused: .notAllowed(userID: "17841400000000001", username: "stranger.shop"))
        #expect(stranger.status == 403 && stranger.message.contains("@stranger.shop (17841400000000001) is not on this site's list"))
        await backend.close(migrated)
    }

    @Test(arguments: Backend.allCases) func aCodeIsClaimedOnceAndItsOutcomeKept(_ backend: Backend) async throws {
        let store = try await backend.open(try await backend.newPlace())
        defer { Task { await backend.close(store) } }
        let now = Date()
        guard case .claimed(let ticket) = try await store.claimCallback(codeHash: "h1", browserTag: "b", now: now) else {
            Issue.record("first claim refused")
            return
        }
        guard case .existing(let pending) = try await store.claimCallback(codeHash: "h1", browserTag: "b", now: now) else {
            Issue.record("second claim granted")
            return
        }
        #expect(pending.ticket == ticket)
        #expect(pending.outcome == nil)
        let outcome = CallbackOutcome.lookupFailed(failure: InstagramFailure(.unexpectedResponse, number: 503, detail: "<h1>down</h1>"))
        try await store.completeCallback(codeHash: "h1", outcome: outcome, saving: nil, now: now)
        #expect(try await store.callback(ticket: ticket)?.outcome == outcome)
        try await store.releaseCallback(codeHash: "h1")
        #expect(try await store.callback(codeHash: "h1") != nil, "a finished outcome is not released")

        _ = try await store.claimCallback(codeHash: "h2", browserTag: "b", now: now)
        try await store.releaseCallback(codeHash: "h2")
        guard case .claimed = try await store.claimCallback(codeHash: "h2", browserTag: "b", now: now) else {
            Issue.record("a released code cannot be claimed again")
            return
        }
        // A claim left behind is released by its ticket only: not a newer claim on the same code.
        guard case .claimed(let abandoned) = try await store.claimCallback(codeHash: "h4", browserTag: "b", now: now - 3600),
            case .existing = try await store.claimCallback(codeHash: "h4", browserTag: "b", now: now)
        else {
            Issue.record("claiming h4")
            return
        }
        try await store.releaseCallback(codeHash: "h4", ticket: abandoned)
        guard case .claimed(let newer) = try await store.claimCallback(codeHash: "h4", browserTag: "b", now: now) else {
            Issue.record("an abandoned claim was not released")
            return
        }
        try await store.releaseCallback(codeHash: "h4", ticket: abandoned)
        #expect(try await store.callback(codeHash: "h4")?.ticket == newer, "a newer claim was released by an old ticket")

        _ = try await store.claimCallback(codeHash: "h3", browserTag: "b", now: now + 2 * 86_400)
        #expect(try await store.callback(ticket: ticket) == nil, "old results are cleaned up")
    }

    @Test(arguments: Backend.allCases) func twoHandlesRacingForOneCodeOrOneRefreshGetItOnce(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let hosts = [try await backend.open(place), try await backend.open(place)]
        let now = Date()
        try await hosts[0].save(sampleAccount(now: now))
        for round in 0..<10 {
            let claims = try await withThrowingTaskGroup(of: (Bool, Bool).self) { group in
                for host in hosts {
                    group.addTask {
                        let code = try await host.claimCallback(codeHash: "race-\(round)", browserTag: "b", now: now)
                        let refresh = try await host.claimRefresh(userID: "17841405793187218", token: "IGAAfirst", now: now + Double(round) * 400)
                        if case .claimed = code { return (true, refresh) }
                        return (false, refresh)
                    }
                }
                return try await group.reduce(into: [(Bool, Bool)]()) { $0.append($1) }
            }
            #expect(claims.filter(\.0).count == 1, "round \(round): the code claimed once")
            #expect(claims.filter(\.1).count == 1, "round \(round): the refresh claimed once")
        }
        for host in hosts { await backend.close(host) }
    }

    @Test func aPostgresURLIsReadWithoutLeakingItsPassword() throws {
        let remote = try PostgresLocation(url: "postgres://app:s3cret@db.example.com/accounts")
        #expect(remote.host == "db.example.com" && remote.port == 5432 && remote.user == "app" && remote.database == "accounts")
        #expect(remote.password == "s3cret")
        #expect(remote.sslMode == .require, "TLS unless told otherwise, off loopback")
        #expect(!remote.display.contains("s3cret"))
        #expect(try PostgresLocation(url: "postgresql://app@127.0.0.1:6543/a").sslMode == .disable)
        #expect(try PostgresLocation(url: "postgres://app@10.0.0.5/a?sslmode=disable").sslMode == .disable)
        for bad in ["postgres://db.example.com/a", "postgres://app@db.example.com", "postgres://app@db.example.com/a?sslmode=prefer", "mysql://x@y/z"] {
            #expect(throws: PostgresLocation.Invalid.self, "\(bad)") { try PostgresLocation(url: bad) }
            // The configuration's refusal names the key.
            do {
                _ = try DatabaseLocation(bad)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.key == "INSTAGRAM_AUTH_DATABASE", "\(error)")
            }
        }
    }

    @Test func anUnreachablePostgresIsAStoreErrorNamingItWithoutThePassword() async throws {
        let location = try PostgresLocation(url: "postgres://app:s3cret@127.0.0.1:1/accounts")
        let began = Date()
        defer { #expect(Date().timeIntervalSince(began) < Double(PostgresAccountStore.openTimeout) + 5) }
        do {
            _ = try await PostgresAccountStore(location)
            Issue.record("opened a store on a closed port")
        } catch {
            #expect(error.description.contains("app@127.0.0.1:1/accounts"))
            #expect(!error.description.contains("s3cret"))
        }
    }

    @Test func aPostgresStoreOpenedWhileTheServerIsDownAnswersEachCallInTimeWithAnError() async throws {
        let location = try PostgresLocation(url: "postgres://app:s3cret@127.0.0.1:1/accounts")
        let began = Date()
        let store = try await DatabaseLocation.postgres(location).open(waitingForServer: true, logger: .init(label: "test"))
        #expect(Date().timeIntervalSince(began) < Double(PostgresAccountStore.openTimeout) + 3)
        let call = Date()
        do {
            _ = try await store.claimCallback(codeHash: "abc", browserTag: "tag", now: Date())
            Issue.record("claimed a code with no server")
        } catch {
            #expect(error.unreachable)
            #expect(error.description.contains("app@127.0.0.1:1/accounts") && !error.description.contains("s3cret"))
            #expect(error.description.hasSuffix("is unreachable: Connection refused"), "\(error)")
        }
        #expect(Date().timeIntervalSince(call) < Double(PostgresAccountStore.callTimeout) + 3)
        await store.close()
    }

    @Test func aServerThatRefusesIsAnErrorAtOnceEvenForTheResponder() async throws {
        let place = try await Backend.postgres.newPlace()
        let missing = try PostgresLocation(url: place.replacingOccurrences(of: "/t_", with: "/missing_"))
        let began = Date()
        do {
            _ = try await DatabaseLocation.postgres(missing).open(waitingForServer: true, logger: .init(label: "test"))
            Issue.record("opened a database that does not exist")
        } catch {
            #expect(!error.unreachable)
            #expect(error.description.contains("does not exist"), "\(error)")
        }
        #expect(Date().timeIntervalSince(began) < Double(PostgresAccountStore.openTimeout))
    }

    /// Once the store is working, the connection pool keeps a call waiting while it retries a server that
    /// refuses; the store's own check says why instead, and the call does not wait out its time limit.
    @Test func aDatabaseThatGoesAwayUnderAWorkingStoreIsReportedWithTheServersReason() async throws {
        let place = try await Backend.postgres.newPlace()
        let store = try await PostgresAccountStore(try PostgresLocation(url: place))
        try await store.save(sampleAccount())
        let name = try #require(URL(string: place)?.lastPathComponent)
        _ = try await offPool { try PostgresServer.shared.get().psql("postgres", "DROP DATABASE \(name) WITH (FORCE)") }
        do {
            _ = try await store.accounts()
            Issue.record("read accounts from a database that was dropped")
        } catch {
            #expect(!error.unreachable, "a refusal, not an outage")
            #expect(error.description.contains("database \"\(name)\" does not exist"), "\(error)")
        }
        await store.close()
    }
}
