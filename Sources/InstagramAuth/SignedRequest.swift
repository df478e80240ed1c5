import Accounts
import Crypto
import Foundation
import InstagramAPI

/// Meta's `signed_request`, as its deauthorize and data deletion callbacks POST it:
/// `base64url(signature) "." base64url(JSON payload)`, padding optional, the signature HMAC-SHA256 of the
/// payload *as encoded* (padding included when sent), keyed with an app secret.
public struct SignedRequest: Sendable, Equatable {
    /// The Instagram account the request is about (`user_id`, a string or a number in the payload).
    public let userID: String
    /// When Meta signed it (`issued_at`), if the payload says.
    public let issuedAt: Int?
    /// The payload as sent: what the signature covers, and so one request's identity.
    public let encodedPayload: String

    /// A time the request was surely signed before: `issued_at` and a minute, since clocks differ (an
    /// account authorized again within that minute is rarer than Meta's clock running ahead). Nil without it.
    public var issuedBefore: Date? {
        issuedAt.map { Date(timeIntervalSince1970: TimeInterval($0) + 60) }
    }

    /// Why a `signed_request` was refused: said in the 400 answer and logged once.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case missing
        case tooLong(Int)
        case malformed
        case badBase64
        case notAnObject
        case wrongAlgorithm(String)
        case badSignature
        case noUserID

        public var description: String {
            switch self {
            case .missing: "no signed_request in the form"
            case .tooLong(let count): "the signed_request is \(count) bytes, more than \(SignedRequest.maxLength)"
            case .malformed: "the signed_request is not a signature and a payload joined by a dot"
            case .badBase64: "the signed_request is not base64url"
            case .notAnObject: "the signed_request's payload is not a JSON object"
            case .wrongAlgorithm(let name): "the signed_request's algorithm is \(name.isEmpty ? "missing" : "not HMAC-SHA256"), so it cannot be checked"
            case .badSignature: "the signed_request's signature does not match this app's secret"
            case .noUserID: "the signed_request names no user_id"
            }
        }
    }

    /// Meta's requests are a few hundred bytes; anything this long is not one.
    public static let maxLength = 4096

    /// The request in `text`, if its signature is one of `secrets`' and its payload is well formed.
    public static func verify(_ text: String, secrets: [String]) throws(Failure) -> SignedRequest {
        guard !text.isEmpty else { throw .missing }
        guard text.utf8.count <= maxLength else { throw .tooLong(text.utf8.count) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw .malformed }
        let encodedPayload = String(parts[1])
        guard let signature = decode(parts[0]), let payload = decode(parts[1]) else { throw .badBase64 }
        guard let json = JSONValue.parse(payload), case .object = json else { throw .notAnObject }
        let algorithm = json["algorithm"]?.string ?? ""
        // Compared as Meta's SDKs do: the name in upper case; anything else (`none` above all) is refused.
        guard algorithm.uppercased() == "HMAC-SHA256" else { throw .wrongAlgorithm(algorithm) }
        let signed = Data(encodedPayload.utf8)
        let matches = secrets.contains { secret in
            !secret.isEmpty
                && HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: SymmetricKey(data: Data(secret.utf8)))
        }
        guard matches else { throw .badSignature }
        guard let userID = json["user_id"]?.identifier, userID.utf8.count <= 64 else { throw .noUserID }
        return SignedRequest(userID: userID, issuedAt: json["issued_at"]?.int, encodedPayload: encodedPayload)
    }

    /// Base64url with or without padding; nil for anything else.
    private static func decode(_ part: Substring) -> [UInt8]? {
        var text = part
        while text.hasSuffix("=") { text = text.dropLast() }
        guard text.utf8.allSatisfy({ isBase64URL($0) }) else { return nil }
        return Base64URL.decode(String(text))
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}
