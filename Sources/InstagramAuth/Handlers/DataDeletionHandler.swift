import Crypto
import Accounts
import FastCGI
import Foundation

/// Meta's data deletion callback: everything stored about the account is deleted now, and Meta gets the
/// URL of a status page and its confirmation code. The same request again deletes again (nothing is left)
/// and answers the same code.
enum DataDeletionHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        await MetaCallback.answer(request, context, callback: "data-deletion") { (signed) throws(StoreError) in
            let requestKey = SHA256.hash(data: Data(signed.encodedPayload.utf8)).map { String(format: "%02x", $0) }.joined()
            let record = try await backends.store.deleteEverything(
                about: signed.userID, requestKey: requestKey, issuedAt: signed.issuedAt.map(DeauthorizeHandler.date), now: Date())
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
