import Accounts
import Foundation
import Logging
import PostgresStore
import SQLiteStore

extension DatabaseLocation {
    /// Opens (creating or migrating as needed) the store here. With `waitingForServer`, a PostgreSQL server
    /// that does not answer yet is no error: the store is returned and connects and migrates on its first
    /// use, so a responder starts (and its authorize page answers) while the database is down; a server that
    /// answers with a refusal (a wrong password, no such database) is still an error.
    /// With `sealer`, tokens are encrypted at rest.
    public func open(waitingForServer: Bool = false, sealer: TokenSealer? = nil, logger: Logger) async throws(StoreError) -> any AccountStore {
        let location = self
        switch location {
        case .sqlite(let path):
            var info = stat()
            if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
                throw StoreError("\(path) is a symbolic link; give the database's real path")
            }
            let store = try SQLiteAccountStore(path: path, sealer: sealer)
            if let problem = FileExposure.problem(path) {
                logger.warning("the database holds tokens and \(problem)")
            }
            return store
        case .postgres(let postgres):
            let store = try PostgresAccountStore(unprepared: postgres, sealer: sealer, logger: logger)
            do {
                try await store.prepare()
            } catch where waitingForServer && error.unreachable {
                logger.warning(
                    "the database does not answer yet; pages that need it fail until it does",
                    metadata: ["database": "\(location)", "error": "\(error)"])
            } catch {
                await store.close()
                throw error
            }
            return store
        }
    }
}
