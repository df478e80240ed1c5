import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How every call reaches the server: within its time bound, after the migrations, with errors that say why.
extension PostgresAccountStore {
    /// Runs `body` within `callTimeout`, after the migrations if they have not run yet; checks the server
    /// itself if the pool keeps it waiting (`checkAfter`).
    @discardableResult
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws(StoreError) -> T {
        try await Self.within(seconds: Self.callTimeout, location: location, check: { [self] in try await reach() }) { [self] in
            if !migrated.load(ordering: .acquiring) { try await migrate() }
            return try await body(client)
        }
    }

    /// Connects outside the pool and hangs up: throws why the server cannot be used, if it cannot. A server
    /// that answers but is starting, stopping or out of connections passes: the pool's wait may still end well.
    func reach() async throws {
        do {
            try await onOwnConnection { _ in }
        } catch let error as PSQLError where Self.isPassing(error) {}
    }

    /// The server answered with a state that passes: shutting down or starting up, out of connections,
    /// or the connection broke (SQLSTATE classes 57, 53, 08).
    static func isPassing(_ error: PSQLError) -> Bool {
        ["57", "53", "08"].contains(String((error.serverInfo?[.sqlState] ?? "").prefix(2)))
    }

    @discardableResult
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        try await run { client in try await client.withTransaction(logger: self.logger) { try await body($0) } }
    }

    /// The error as the store reports it: naming the server, with PostgreSQL's own message when there
    /// is one (never the password: it is not in any of them).
    static func storeError(_ error: any Error, at location: PostgresLocation) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PostgresTransactionError,
            let cause = error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError
        {
            return storeError(cause, at: location)
        }
        if let error = error as? PSQLError {
            // With the server's own message it answered: a refusal, unless its state passes.
            if let message = error.serverInfo?[.message] {
                return StoreError("PostgreSQL at \(location.display): \(message)", unreachable: isPassing(error))
            }
            return StoreError(
                "PostgreSQL at \(location.display) is unreachable: \(error.underlying.map(connectionFailure) ?? "\(error.code)")",
                unreachable: true)
        }
        if error is CancellationError {
            return StoreError("PostgreSQL at \(location.display): the call was cancelled", unreachable: true)
        }
        return StoreError("PostgreSQL at \(location.display): \(error)")
    }
}

/// Why a connection failed, in a few words: "Connection refused", "no answer within 5 s", a DNS error.
func connectionFailure(_ error: any Error) -> String {
    switch error {
    case let error as NIOConnectionError:
        if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(dns)" }
        return error.connectionErrors.first.map { connectionFailure($0.error) } ?? "\(error)"
    case let error as IOError:
        return String(cString: strerror(error.errnoCode))
    case ChannelError.connectTimeout(let amount):
        return "no answer within \(amount.nanoseconds / 1_000_000_000) s"
    default:
        return "\(error)"
    }
}

extension PostgresAccountStore {
    /// How many rows a query gave (an UPDATE or DELETE with RETURNING: how many it changed).
    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}

/// The first of several finishers wins; `outcome()` waits for it.
final class Race<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, StoreError>?
    private var waiter: CheckedContinuation<Result<T, StoreError>, Never>?

    var isFinished: Bool { lock.withLock { result != nil } }

    func finish(_ outcome: Result<T, StoreError>) {
        let waiting: CheckedContinuation<Result<T, StoreError>, Never>? = lock.withLock {
            guard result == nil else { return nil }
            result = outcome
            defer { waiter = nil }
            return waiter
        }
        waiting?.resume(returning: outcome)
    }

    func outcome() async -> Result<T, StoreError> {
        await withCheckedContinuation { continuation in
            let ready: Result<T, StoreError>? = lock.withLock {
                if let result { return result }
                waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
