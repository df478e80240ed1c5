import Foundation

/// What became of one authorization code, kept so a reload or a second request with the same code shows the
/// first exchange's result instead of Instagram's "code has been used". What happened, never the words of a
/// page: those are chosen when the result is shown.
public enum CallbackOutcome: Sendable, Equatable, Codable {
    /// The account was connected and saved.
    case connected(userID: String)
    /// Instagram refused to exchange the code, with its message.
    case codeRefused(message: String)
    /// The account is not on the site's list of allowed accounts: nothing was saved.
    case notAllowed(userID: String, username: String)
    /// The code was spent, but Instagram failed while the account was looked up: nothing was saved.
    case lookupFailed(failure: InstagramFailure)
}

/// A call to Instagram that failed, as a store keeps it.
public struct InstagramFailure: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case rejected, unreachable, tlsFailed, timedOut, unexpectedResponse }
    public var kind: Kind
    /// The HTTP status of an answer (`rejected`, `unexpectedResponse`); the seconds waited (`timedOut`).
    public var number: Int
    /// Instagram's message, or why the call failed.
    public var detail: String

    public init(_ kind: Kind, number: Int = 0, detail: String = "") {
        self.kind = kind
        self.number = number
        self.detail = detail
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
    /// Another code came with the same `state`: a state is used once, so this code is not exchanged.
    case stateUsed
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

extension CallbackOutcome {
    /// The outcome a store kept before outcomes were stored as meaning (migration v3): a page's status,
    /// heading, message and detail, read back into what they said happened. Nil for text that is not one.
    package static func fromPageWording(_ json: String) -> CallbackOutcome? {
        struct Worded: Decodable {
            var kind: String
            var userID: String?
            var status: Int
            var heading: String
            var message: String
            var detail: String?
        }
        guard let old = try? JSONDecoder().decode(Worded.self, from: Data(json.utf8)) else { return nil }
        if old.kind == "connected", let userID = old.userID { return .connected(userID: userID) }
        let detail = old.detail ?? ""
        switch (old.status, old.heading) {
        case (400, _):
            return .codeRefused(message: detail)
        case (403, _):
            // "The Instagram account @name (id) is not on this site's list …"
            let name = old.message.range(of: "@").map { old.message[$0.upperBound...].prefix { $0 != " " } } ?? ""
            let id = old.message.range(of: " (").map { old.message[$0.upperBound...].prefix { $0 != ")" } } ?? ""
            return .notAllowed(userID: String(id), username: String(name))
        case (_, "Instagram did not answer"):
            // "… within 10 seconds …" or "… within 1 minute …"
            let words = old.message.components(separatedBy: "within ").dropFirst().first?.split(separator: " ") ?? []
            let count = words.first.flatMap { Int($0) } ?? 0
            let seconds = words.dropFirst().first?.hasPrefix("minute") == true ? count * 60 : count
            return .lookupFailed(failure: InstagramFailure(.timedOut, number: seconds))
        case (_, "Instagram could not be reached"):
            return .lookupFailed(failure: InstagramFailure(.unreachable))
        case (_, "Instagram could not be reached securely"):
            let reason = old.message.components(separatedBy: "looking up the account: ").dropFirst().first?
                .components(separatedBy: ", so nothing was sent").first ?? ""
            return .lookupFailed(failure: InstagramFailure(.tlsFailed, detail: reason))
        default:
            // "Instagram answered with an error": an answer it could not read says its HTTP status.
            if let range = old.message.range(of: "(HTTP "), let status = Int(old.message[range.upperBound...].prefix { $0.isNumber }) {
                return .lookupFailed(failure: InstagramFailure(.unexpectedResponse, number: status, detail: detail))
            }
            return .lookupFailed(failure: InstagramFailure(.rejected, number: 400, detail: detail))
        }
    }
}

