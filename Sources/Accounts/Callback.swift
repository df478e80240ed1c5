import Foundation

/// What became of one authorization code, kept so a reload or a second request with the same code
/// shows the first exchange's result instead of Instagram's "code has been used".
public struct CallbackOutcome: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case connected, refused }
    public var kind: Kind
    public var userID: String?
    public var status: Int
    public var heading: String
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(kind: Kind, userID: String? = nil, status: Int, heading: String, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.userID = userID
        self.status = status
        self.heading = heading
        self.message = message
        self.detail = detail
        self.hint = hint
    }
}

public struct CallbackRecord: Sendable, Equatable {
    public var ticket: String
    public var browserTag: String
    /// Nil while the exchange is still under way.
    public var outcome: CallbackOutcome?
    public var createdAt: Date

    package init(ticket: String, browserTag: String, outcome: CallbackOutcome?, createdAt: Date) {
        self.ticket = ticket
        self.browserTag = browserTag
        self.outcome = outcome
        self.createdAt = createdAt
    }
}

public enum CallbackClaim: Sendable, Equatable {
    /// This request owns the code: exchange it, then `completeCallback` or `releaseCallback`.
    case claimed(ticket: String)
    /// Another request has (or had) the code.
    case existing(CallbackRecord)
}

extension CallbackOutcome {
    /// The JSON text a store keeps.
    package func storedForm() throws(StoreError) -> String {
        do {
            return String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
        } catch {
            throw StoreError("cannot encode a callback outcome: \(error)")
        }
    }
}
