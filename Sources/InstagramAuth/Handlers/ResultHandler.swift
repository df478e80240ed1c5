import Accounts
import FastCGI

/// The outcome of a code, for the browser that authorized: the connected account, or why it was refused.
enum ResultHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let record: CallbackRecord?
        do {
            record = try await backends.store.callback(ticket: request.query["result"] ?? "")
        } catch {
            context.logger.error("account store failed", metadata: ["error": "\(error)"])
            return context.page(
                for: PageError(
                    503, "The result could not be read", "This site's account database is not available right now. Reload this page in a minute."))
        }
        guard let record, let outcome = record.outcome else {
            return context.page(
                for: PageError(
                    404, "This result is no longer available", "Results of an authorization are kept for a day. Start again to connect an account."))
        }
        guard let browser = request.browser, context.signer.bindingTag(browser) == record.browserTag else {
            return context.page(
                for: PageError(403, "Open this in the browser that authorized", "This result belongs to the browser that started the authorization."))
        }
        guard case .connected(let userID) = outcome else { return context.page(for: PageError(refused: outcome)) }
        guard let account = try? await backends.store.account(userID) else {
            return context.page(for: PageError(404, "This account is no longer connected", "Start again to connect it."))
        }
        let configuration = context.configuration
        return context.pages.render(
            "success", status: 200, title: "Instagram account connected",
            values: [
                "account": account.displayName,
                "userID": account.userID,
                "username": account.username ?? "",
                "expires": Formatting.date(account.tokenExpiresAt),
                "shortLived": !account.isLongLived,
                "needsAuthorization": account.status == .needsAuthorization,
                "permissions": account.permissions.joined(separator: ", "),
                "accessToken": configuration.showToken ? account.accessToken : "",
                "startURL": context.startURL,
            ])
    }
}
