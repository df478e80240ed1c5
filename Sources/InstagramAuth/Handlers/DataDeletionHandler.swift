import Accounts
import FastCGI
import Foundation

/// Meta's data deletion callback: everything stored about the account is deleted now, and Meta gets the
/// URL of a status page and its confirmation code. The same request again changes nothing and answers the
/// same code.
enum DataDeletionHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        await MetaCallback.answer(request, context, callback: "data-deletion") { (signed) throws(StoreError) in
            var record = try await backends.store.deleteEverything(
                about: signed.userID, requestKey: sha256Hex(signed.encodedPayload), issuedAt: signed.issuedBefore, now: Date())
            if record.accountDeleted {
                let removed = backends.forgetFeed(of: signed.userID)
                if removed > 0 {
                    try await backends.store.recordMediaDeleted(confirmationCode: record.confirmationCode, count: removed)
                    record.mediaDeleted += removed
                }
            }
            context.logger.notice(
                "data deletion request carried out",
                metadata: [
                    "confirmation_code": "\(record.confirmationCode)", "account_deleted": "\(record.accountDeleted)",
                    "callbacks_deleted": "\(record.callbacksDeleted)", "media_deleted": "\(record.mediaDeleted)",
                ])
            return MetaCallback.json(
                200, ["url": context.folderURL + "deletion?code=" + record.confirmationCode, "confirmation_code": record.confirmationCode])
        }
    }
}
