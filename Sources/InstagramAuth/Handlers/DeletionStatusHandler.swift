import Accounts
import FastCGI

/// The page a data deletion's confirmation URL shows: when the request came and what it deleted, nothing else.
enum DeletionStatusHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let code = request.query["code"] ?? ""
        let unknown = PageError(404, "No such deletion request", "This site has no data deletion request with that confirmation code.")
        guard DeletionRecord.isConfirmationCode(code) else { return context.page(for: unknown) }
        do {
            guard let record = try await backends.store.deletion(confirmationCode: code) else { return context.page(for: unknown) }
            let callbacks = record.callbacksDeleted == 0 ? "none were kept" : "\(record.callbacksDeleted) deleted"
            return context.pages.render(
                "deletion", status: 200, title: "Data deletion request \(record.confirmationCode)",
                values: [
                    "code": record.confirmationCode, "requested": Formatting.date(record.requestedAt),
                    "accountDeleted": record.accountDeleted, "callbacks": callbacks,
                    "media": record.mediaDeleted == 0 ? "none were kept" : "\(record.mediaDeleted) deleted",
                ])
        } catch {
            context.logger.error("account store failed", metadata: ["error": "\(error)"])
            return context.page(
                for: PageError(503, "The request's status could not be read", "This site's account database is not available right now. Try again in a minute."))
        }
    }
}
