import Foundation

/// What one data deletion request removed, kept under its confirmation code so that its status page can say so.
/// It names no account: what was deleted stays deleted.
public struct DeletionRecord: Sendable, Equatable {
    public var confirmationCode: String
    public var requestedAt: Date
    /// Whether an account, with its token, was stored and is now gone.
    public var accountDeleted: Bool
    /// How many kept authorization results named the account.
    public var callbacksDeleted: Int
    /// How many copies of the account's feed images were deleted (`AccountStore.recordMediaDeleted`).
    public var mediaDeleted: Int

    package init(confirmationCode: String, requestedAt: Date, accountDeleted: Bool, callbacksDeleted: Int, mediaDeleted: Int = 0) {
        self.confirmationCode = confirmationCode
        self.requestedAt = requestedAt
        self.accountDeleted = accountDeleted
        self.callbacksDeleted = callbacksDeleted
        self.mediaDeleted = mediaDeleted
    }

    /// Letters and digits that cannot be mistaken for one another: 32 of them, so a random byte picks one evenly.
    private static let codeAlphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789".utf8)

    /// A new confirmation code: 16 random letters and digits, easy to read out and to put in a URL.
    package static func newConfirmationCode() -> String {
        String(decoding: RandomBytes.make(16).map { codeAlphabet[Int($0) % codeAlphabet.count] }, as: UTF8.self)
    }

    /// Whether `text` could be a confirmation code: anything else is not worth looking up.
    public static func isConfirmationCode(_ text: String) -> Bool {
        text.utf8.count == 16 && text.utf8.allSatisfy(codeAlphabet.contains)
    }
}

extension CallbackOutcome {
    /// The Instagram account this outcome names, if any: what a deletion request removes it by.
    public var userID: String? {
        switch self {
        case .connected(let userID), .notAllowed(let userID, _): userID
        case .codeRefused, .lookupFailed: nil
        }
    }
}
