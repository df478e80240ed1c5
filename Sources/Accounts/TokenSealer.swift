import Crypto
import Foundation

/// Access tokens encrypted at rest (`INSTAGRAM_AUTH_TOKEN_KEY`): AES-256-GCM, bound to the account's user
/// id, stored as `sealed:v1:<base64>`. The nonce is derived from the user id and the token (a synthetic IV),
/// so the same token of the same account always seals to the same text: the stores still find a token by
/// equality in SQL, and a nonce is never used for two different plaintexts.
public struct TokenSealer: Sendable {
    static let prefix = "sealed:v1:"
    // Bytes, not SymmetricKey (not Sendable): a key is made from them for each use.
    private let keyBytes: [UInt8]
    private let nonceKeyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    private var nonceKey: SymmetricKey { SymmetricKey(data: nonceKeyBytes) }

    /// Keys derived (HKDF-SHA256) from a secret of at least 32 characters.
    public init(secret: String) {
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(secret.utf8)), info: Data("instagram-auth token key v1".utf8), outputByteCount: 64)
        let bytes = derived.withUnsafeBytes { Array($0) }
        keyBytes = Array(bytes.prefix(32))
        nonceKeyBytes = Array(bytes.suffix(32))
    }

    public static func isSealed(_ stored: String) -> Bool { stored.hasPrefix(prefix) }

    /// SQL that selects the accounts whose token is stored plain.
    package static let plainTokenCondition = "access_token <> '' AND substr(access_token, 1, 10) <> 'sealed:v1:'"

    /// The text a store keeps for `token`; an empty token (a discarded one) stays empty.
    public func seal(_ token: String, userID: String) throws(StoreError) -> String {
        guard !token.isEmpty else { return "" }
        let mac = HMAC<SHA256>.authenticationCode(for: Data((userID + "\u{0}" + token).utf8), using: nonceKey)
        do {
            let nonce = try AES.GCM.Nonce(data: Array(mac.prefix(12)))
            let box = try AES.GCM.seal(Data(token.utf8), using: key, nonce: nonce, authenticating: Data(userID.utf8))
            guard let combined = box.combined else { throw StoreError("a sealed token has no combined form") }
            return Self.prefix + combined.base64EncodedString()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot encrypt a token: \(error)")
        }
    }

    /// The token in `stored`: opened when sealed, as it is when written before encryption was turned on.
    public func open(_ stored: String, userID: String) throws(StoreError) -> String {
        guard Self.isSealed(stored) else { return stored }
        guard let combined = Data(base64Encoded: String(stored.dropFirst(Self.prefix.count))),
            let box = try? AES.GCM.SealedBox(combined: combined),
            let plain = try? AES.GCM.open(box, using: key, authenticating: Data(userID.utf8))
        else {
            throw StoreError("INSTAGRAM_AUTH_TOKEN_KEY does not open the stored token of \(userID): the key is not the one the tokens were encrypted with")
        }
        return String(decoding: plain, as: UTF8.self)
    }
}

extension Optional where Wrapped == TokenSealer {
    /// What a store writes for `token`: sealed when a key is set.
    package func stored(_ token: String, userID: String) throws(StoreError) -> String {
        guard let sealer = self else { return token }
        return try sealer.seal(token, userID: userID)
    }

    /// Both forms a stored token may have: sealed (written with the key) and plain (written before it was
    /// set), so a store finds it either way until its next write seals it.
    package func storedForms(_ token: String, userID: String) throws(StoreError) -> [String] {
        guard let sealer = self else { return [token, token] }
        return [try sealer.seal(token, userID: userID), token]
    }

    /// `account` with its token as a store keeps it.
    package func sealed(_ account: Account) throws(StoreError) -> Account {
        var account = account
        account.accessToken = try stored(account.accessToken, userID: account.userID)
        return account
    }

    /// `account` as a store read it, its token opened.
    package func opened(_ account: Account) throws(StoreError) -> Account {
        var account = account
        account.accessToken = try token(account.accessToken, userID: account.userID)
        return account
    }

    /// The token a store read: a sealed one without a key is an error, never a garbled token sent to Instagram.
    package func token(_ stored: String, userID: String) throws(StoreError) -> String {
        guard let sealer = self else {
            guard !TokenSealer.isSealed(stored) else {
                throw StoreError("the stored tokens are encrypted: set INSTAGRAM_AUTH_TOKEN_KEY (or INSTAGRAM_AUTH_TOKEN_KEY_FILE) to the key they were encrypted with")
            }
            return stored
        }
        return try sealer.open(stored, userID: userID)
    }
}
