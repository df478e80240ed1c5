import Accounts
import Foundation
import GRDB
import PostgresStore
import SQLiteStore
import TestSupport
import Testing

/// Tokens encrypted at rest (`INSTAGRAM_AUTH_TOKEN_KEY`), in both stores.
@Suite("Tokens encrypted at rest")
struct TokenSealingTests {
    static let key = "token-key-0123456789-abcdefghij-klmnop"
    static let token = "IGAAsealed-token-0123456789-never-stored-plain"

    func open(_ backend: Backend, _ place: String, key: String?) async throws -> any AccountStore {
        let sealer = key.map(TokenSealer.init(secret:))
        switch backend {
        case .sqlite: return try SQLiteAccountStore(path: place, sealer: sealer)
        case .postgres: return try await PostgresAccountStore(try PostgresLocation(url: place), sealer: sealer)
        }
    }

    /// The token column as the database holds it.
    func stored(_ backend: Backend, _ place: String) async throws -> String {
        switch backend {
        case .sqlite:
            return try await DatabaseQueue(path: place).read { try String.fetchOne($0, sql: "SELECT access_token FROM account") } ?? ""
        case .postgres:
            let database = String(place.split(separator: "/").last ?? "")
            return try await offPool { try PostgresServer.shared.get().psql(database, "SELECT access_token FROM account") }
        }
    }

    @Test(arguments: Backend.allCases) func aTokenIsStoredSealedAndReadAsItWas(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let store = try await open(backend, place, key: Self.key)
        let now = Date()
        try await store.save(sampleAccount(token: Self.token, now: now))
        let raw = try await stored(backend, place)
        #expect(raw.hasPrefix("sealed:v1:") && !raw.contains("IGAA"), "\(raw)")
        #expect(try await store.account("shop.owner")?.accessToken == Self.token)
        // Found by its token for a refresh, and replaced by the refreshed one, sealed too.
        #expect(try await store.claimRefresh(userID: "17841405793187218", token: Self.token, now: now))
        try await store.storeRefreshed(
            userID: "17841405793187218", previousToken: Self.token, token: "IGAArefreshed-token", isLongLived: true,
            expiresAt: now + 86_400 * 60, now: now)
        #expect(try await store.account("shop.owner")?.accessToken == "IGAArefreshed-token")
        #expect(!(try await stored(backend, place)).contains("IGAA"))
        await store.close()

        // Without the key, or with another one: a clear error, never a garbled token.
        let keyless = try await open(backend, place, key: nil)
        await #expect(throws: StoreError.self) { try await keyless.account("shop.owner") }
        do {
            _ = try await keyless.accounts()
        } catch {
            #expect(error.description.contains("set INSTAGRAM_AUTH_TOKEN_KEY"))
        }
        await keyless.close()
        let wrong = try await open(backend, place, key: "another-key-0123456789-abcdefghij-klmn")
        do {
            _ = try await wrong.accounts()
            Issue.record("another key opened the tokens")
        } catch {
            #expect(error.description.contains("INSTAGRAM_AUTH_TOKEN_KEY does not open"))
        }
        await wrong.close()
    }

    @Test(arguments: Backend.allCases) func aTokenStoredBeforeTheKeyIsReadAndSealedOnItsNextWrite(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let plain = try await open(backend, place, key: nil)
        let now = Date()
        try await plain.save(sampleAccount(token: Self.token, now: now))
        await plain.close()
        #expect(try await stored(backend, place) == Self.token)

        let sealed = try await open(backend, place, key: Self.key)
        #expect(try await sealed.account("shop.owner")?.accessToken == Self.token)
        #expect(try await sealed.claimRefresh(userID: "17841405793187218", token: Self.token, now: now), "found by its plain form")
        try await sealed.storeRefreshed(
            userID: "17841405793187218", previousToken: Self.token, token: "IGAAnext-token", isLongLived: true,
            expiresAt: now + 86_400 * 60, now: now)
        #expect(try await stored(backend, place).hasPrefix("sealed:v1:"))
        #expect(try await sealed.account("shop.owner")?.accessToken == "IGAAnext-token")
        await sealed.close()
    }

    @Test(arguments: Backend.allCases) func checkEncryptsTheTokensStoredBeforeTheKey(_ backend: Backend) async throws {
        let place = try await backend.newPlace()
        let plain = try await open(backend, place, key: nil)
        try await plain.save(sampleAccount(token: Self.token))
        #expect(try await plain.sealPlainTokens() == 0, "nothing to do without a key")
        await plain.close()

        let sealed = try await open(backend, place, key: Self.key)
        #expect(try await sealed.sealPlainTokens() == 1)
        #expect(try await stored(backend, place).hasPrefix("sealed:v1:"))
        #expect(try await sealed.sealPlainTokens() == 0)
        #expect(try await sealed.account("shop.owner")?.accessToken == Self.token)
        await sealed.close()
    }
}
