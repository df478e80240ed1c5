import Accounts
import FastCGI
import Foundation

/// Meta's deauthorize callback: the owner removed the app on Instagram, so the account's token is discarded
/// and the account is shown as deauthorized until it connects again.
enum DeauthorizeHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        await MetaCallback.answer(request, context, callback: "deauthorize") { (signed) throws(StoreError) in
            let known = try await backends.store.deauthorize(userID: signed.userID, issuedAt: signed.issuedBefore, now: Date())
            // The cached posts went with the token; their images go too.
            if known { backends.forgetFeed(of: signed.userID) }
            context.logger.notice(
                known ? "account deauthorized on Instagram; its token was discarded" : "deauthorize callback for an account not stored",
                metadata: ["user_id": "\(signed.userID)"])
            return MetaCallback.json(200, ["status": known ? "deauthorized" : "unknown_account"])
        }
    }
}
