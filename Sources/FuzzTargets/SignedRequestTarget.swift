import Crypto
import Foundation
import InstagramAuth

/// Meta's `signed_request` as the deauthorize and data deletion callbacks check it. Input: the form value.
///
/// The verdict is compared with an independent check written from Meta's description: two base64url parts
/// (padding optional), the second a JSON object whose `algorithm` is HMAC-SHA256, the first the HMAC-SHA256
/// of the second as sent. Then the input, as a user id, is signed and must verify to exactly that id.
enum SignedRequestTarget {
    /// The secret the seeds in Fuzz/corpus/signed-request are signed with.
    static let secret = "signed-request fuzz secret"

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let text = input.text
        let verdict = Result { () throws(SignedRequest.Failure) in try SignedRequest.verify(text, secrets: [secret]) }
        let expected = expectedUserID(text)
        switch verdict {
        case .success(let request):
            try require(expected == request.userID, "\(text.shown) verified as user \(request.userID.shown), expected \(expected?.shown ?? "a refusal")")
            try require(text.hasSuffix("." + request.encodedPayload), "the encoded payload is not the request's second part")
        case .failure(let failure):
            try require(expected == nil, "\(text.shown) refused (\(failure)), expected user \(expected?.shown ?? "")")
            try require(!failure.description.contains(secret), "a refusal shows the secret")
        }

        // Signed here, with the input as the user id: verifies to exactly it, and only with the secret.
        guard !text.isEmpty, text.utf8.count <= 64,
            let payload = try? JSONSerialization.data(withJSONObject: ["algorithm": "HMAC-SHA256", "user_id": text], options: [.sortedKeys])
        else { return }
        let encoded = base64URL(payload)
        let signature = base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(encoded.utf8), using: SymmetricKey(data: Data(secret.utf8)))))
        let made = signature + "." + encoded
        try require((try? SignedRequest.verify(made, secrets: [secret]).userID) == text, "a request signed for \(text.shown) does not verify to it")
        try require((try? SignedRequest.verify(made, secrets: ["another secret"])) == nil, "a request verifies with another secret")
    }

    /// The user id an independent reading of Meta's format finds in `text`, or nil when it must be refused.
    static func expectedUserID(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= SignedRequest.maxLength else { return nil }
        let parts = text.components(separatedBy: ".")
        guard parts.count == 2, let signature = decode(parts[0]), let payload = decode(parts[1]),
            let fields = try? JSONDecoder().decode(Payload.self, from: payload), fields.algorithm?.uppercased() == "HMAC-SHA256"
        else { return nil }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(parts[1].utf8), using: SymmetricKey(data: Data(secret.utf8)))
        guard Data(mac) == signature, let id = fields.user_id?.text, !id.isEmpty, id.utf8.count <= 64 else { return nil }
        return id
    }

    /// The payload's fields that matter: a user id is a string or a whole number.
    struct Payload: Decodable {
        var algorithm: String?
        var user_id: UserID?

        enum UserID: Decodable {
            case string(String), number(String)

            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let text = try? container.decode(String.self) {
                    self = .string(text)
                } else if let number = try? container.decode(Int64.self) {
                    self = .number(String(number))
                } else {
                    self = .number(String(try container.decode(UInt64.self)))
                }
            }

            var text: String {
                switch self {
                case .string(let text), .number(let text): text
                }
            }
        }
    }

    /// Base64url, padding optional: `=` only at the end, the rest of the URL-safe alphabet.
    static func decode(_ part: String) -> Data? {
        let bare = part.replacingOccurrences(of: "=+$", with: "", options: .regularExpression)
        guard !bare.isEmpty, bare.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) != nil, bare.count % 4 != 1 else { return nil }
        let standard = bare.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return Data(base64Encoded: standard + String(repeating: "=", count: (4 - standard.count % 4) % 4))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
