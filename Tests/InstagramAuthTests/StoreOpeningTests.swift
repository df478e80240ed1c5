import Accounts
import Foundation
import LogHandlers
import Testing

@testable import InstagramAuth

#if canImport(Glibc)
import Glibc
#endif

/// The SQLite file is the tokens' home: never reached through a symlink, and a copy others can read is said.
@Suite("Opening the database")
struct StoreOpeningTests {
    @Test func aSymlinkAtTheDatabasePathIsRefused() async throws {
        let path = try temporaryDatabase()
        let elsewhere = path + ".elsewhere"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: elsewhere)
        await #expect(throws: StoreError.self) { try await DatabaseLocation.sqlite(path: path).open(logger: LogRecorder().logger()) }
        #expect(!FileManager.default.fileExists(atPath: elsewhere), "nothing was created through the link")
    }

    @Test func aDatabaseOthersMayReadIsSaid() async throws {
        let path = try temporaryDatabase()
        let log = LogRecorder()
        try await DatabaseLocation.sqlite(path: path).open(logger: log.logger()).close()
        #expect(!log.text.contains("holds tokens"), "created 0600: nothing to say")
        chmod(path, 0o644)
        try await DatabaseLocation.sqlite(path: path).open(logger: log.logger()).close()
        #expect(log.text.contains("the database holds tokens and \(path) is readable by every user"), "\(log.text)")
    }
}
