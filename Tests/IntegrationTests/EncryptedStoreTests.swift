import Foundation
import Testing

/// `INSTAGRAM_AUTH_TOKEN_KEY` through nginx: the database file never holds a token's bytes.
@Suite("An encrypted store, through nginx", .serialized)
struct EncryptedStoreTests {
    @Test func theDatabaseFilesHoldNoTokenBytesAndTheCommandsStillGiveIt() async throws {
        let key = "integration-token-key-0123456789-abcdef"
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_TOKEN_KEY": key])) { stack in
            let browser = Browser()
            let (callback, _) = try await stack.authorize(browser: browser)
            #expect(try await stack.request(callback, browser: browser).status == 200)
            let token = try await stack.command(["token"])
            #expect(token.status == 0 && token.out.hasPrefix("IGAA"))
            let value = token.out.trimmingCharacters(in: .whitespacesAndNewlines)
            for suffix in ["", "-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: stack.databasePath + suffix))) ?? Data()
                #expect(bytes.range(of: Data(value.utf8)) == nil, "the token's bytes in accounts.sqlite3\(suffix)")
                #expect(bytes.range(of: Data("IGAA".utf8)) == nil)
            }
            let check = try await stack.command(["check"])
            #expect(check.out.contains("tokens encrypted at rest"))
        }
    }
}
