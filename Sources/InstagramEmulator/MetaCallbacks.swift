import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// Meta's side of the platform callbacks: `POST /_emulator/deauthorize?user_id=…` and
/// `POST /_emulator/delete-data?user_id=…` sign a `signed_request` as Meta does and POST it, as a form, to
/// the app's callback URL; the emulator answers with what that URL answered.
extension Emulator {
    /// Where Meta sends its callbacks: set in the app dashboard (Business login settings).
    public struct CallbackURLs: Sendable {
        public var deauthorize: String
        public var dataDeletion: String

        public init(deauthorize: String, dataDeletion: String) {
            self.deauthorize = deauthorize
            self.dataDeletion = dataDeletion
        }

        /// `deauthorize` and `data-deletion` in the redirect URI's folder.
        public init(besideRedirectURI uri: String) {
            let folder = uri.lastIndex(of: "/").map { String(uri[...$0]) } ?? uri + "/"
            self.init(deauthorize: folder + "deauthorize", dataDeletion: folder + "data-deletion")
        }
    }

    /// One callback to make: the form Meta POSTs, and where.
    public struct MetaCall: Sendable, Equatable {
        public var url: String
        public var signedRequest: String
    }

    /// `user_id` (required), `url` (else the configured one), `secret` (else the app's), `padded=1` (base64
    /// padding kept, as some signers send it), `algorithm` (else HMAC-SHA256).
    func metaCall(_ values: [String: String], deletion: Bool) -> Action {
        guard let userID = values["user_id"], !userID.isEmpty else { return json(400, #"{"error":"user_id is required"}"#) }
        let url = values["url"] ?? (deletion ? callbackURLs.dataDeletion : callbackURLs.deauthorize)
        let payload = """
            {"algorithm":"\(Self.jsonEscape(values["algorithm"] ?? "HMAC-SHA256"))","issued_at":\(Int(now().timeIntervalSince1970)),"user_id":"\(Self.jsonEscape(userID))"}
            """
        let signed = Self.signedRequest(payload: payload, secret: values["secret"] ?? app.secret, padded: values["padded"] == "1")
        return .callMeta(MetaCall(url: url, signedRequest: signed))
    }

    /// `base64url(HMAC-SHA256(secret, encoded payload)) "." base64url(payload)`.
    static func signedRequest(payload: String, secret: String, padded: Bool) -> String {
        let encoded = base64URL(Data(payload.utf8), padded: padded)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(encoded.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return base64URL(Data(mac), padded: padded) + "." + encoded
    }

    static func base64URL(_ data: Data, padded: Bool) -> String {
        let text = data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return padded ? text : text.replacingOccurrences(of: "=", with: "")
    }

    /// Makes the call: `{"status": N, "body": "…", "signed_request": "…"}` with the app's answer (and what was
    /// sent, so a test can send it again), or a 502 when it could not be reached.
    public static func perform(_ call: MetaCall) async -> Action {
        var request = HTTPClientRequest(url: call.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "signed_request=" + percent(call.signedRequest)))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            let text = String(buffer: body)
            return .respond(
                status: 200, headers: ["Content-Type": "application/json"],
                body: #"{"status":\#(response.status.code),"body":"\#(jsonEscape(text))","signed_request":"\#(call.signedRequest)"}"#)
        } catch {
            return .respond(
                status: 502, headers: ["Content-Type": "application/json"],
                body: #"{"error":"the callback URL could not be reached: \#(jsonEscape("\(error)"))"}"#)
        }
    }
}
