import Accounts
import FastCGI
import Foundation

/// Meta's data deletion callback: everything stored about the account is deleted now, and Meta gets the
/// URL of a status page and its confirmation code. The same request again changes nothing and answers the
/// same code.
enum DataDeletionHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        await MetaCallback.answer(request, context, callback: "data-deletion") { (signed) throws(StoreError) in
            let record = try await backends.store.deleteEverything(
                about: signed.userID, requestKey: sha256Hex(signed.encodedPayload), issuedAt: signed.issuedBefore, now: Date())
            context.logger.notice(
                "data deletion request carried out",
                metadata: [
                    "confirmation_code": "\(record.confirmationCode)", "account_deleted": "\(record.accountDeleted)",
                    "callbacks_deleted": "\(record.callbacksDeleted)",
                ])
            return MetaCallback.json(
                200, ["url": context.folderURL + "deletion?code=" + record.confirmationCode, "confirmation_code": record.confirmationCode])
        }
    }
}
