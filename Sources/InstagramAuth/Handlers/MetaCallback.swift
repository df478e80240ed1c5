import Accounts
import FastCGI
import Foundation
import InstagramAPI

/// What Meta's deauthorize and data deletion callbacks share: the `signed_request` read from the form and
/// verified, and small JSON answers.
public enum MetaCallback {
    /// `body`'s answer to the verified request in the POSTed form; a 400 when it does not verify (logged
    /// once, nothing changed), a 503 when the store fails.
    static func answer(
        _ request: ParsedRequest, _ context: HandlerContext, callback: String,
        _ body: (SignedRequest) async throws(StoreError) -> Response
    ) async -> Response {
        switch signedRequest(request, context, callback: callback) {
        case .failure(let refusal):
            return refusal.answer
        case .success(let signed):
            do {
                return try await body(signed)
            } catch {
                return storeFailed(error, context, callback: callback)
            }
        }
    }

    /// The verified request in the POSTed form, or the 400 that refuses it.
    private static func signedRequest(_ request: ParsedRequest, _ context: HandlerContext, callback: String) -> Result<SignedRequest, Refusal> {
        let type = request.request.headers["content-type"]?.lowercased() ?? "application/x-www-form-urlencoded"
        let failure: SignedRequest.Failure
        if type.hasPrefix("application/x-www-form-urlencoded") {
            let form = FormEncoding.decode(String(decoding: request.request.body, as: UTF8.self))
            let text = form.first { $0.0 == "signed_request" }?.1 ?? ""
            let secrets = [context.configuration.credentials.appSecret] + (context.configuration.metaAppSecret.map { [$0] } ?? [])
            do {
                return .success(try SignedRequest.verify(text, secrets: secrets))
            } catch {
                failure = error
            }
        } else {
            failure = .missing
        }
        context.logger.warning(
            "Meta callback refused", metadata: ["callback": "\(callback)", "reason": "\(failure)", "client": "\(request.request.remoteAddress)"])
        return .failure(Refusal(answer: json(400, ["error": "invalid_signed_request", "message": failure.description])))
    }

    private struct Refusal: Error {
        let answer: Response
    }

    /// The headers of every JSON answer: never cached, never sniffed as anything else.
    public static let jsonHeaders: [(name: String, value: String)] = [
        ("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
    ]

    /// A JSON object of strings, as the answer.
    static func json(_ status: Int, _ object: [String: String]) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: jsonHeaders, body: Array(body))
    }

    /// The answer when the store fails: Meta retries a callback that does not succeed.
    private static func storeFailed(_ error: any Error, _ context: HandlerContext, callback: String) -> Response {
        context.logger.error("account store failed", metadata: ["callback": "\(callback)", "error": "\(error)"])
        return json(503, ["error": "store_unavailable", "message": "the account database is not available right now; try again later"])
    }
}
