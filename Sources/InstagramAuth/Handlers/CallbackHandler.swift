import FastCGI
import Foundation
import InstagramAPI

/// Instagram sent the visitor back with a `code`: check the state, claim the code once in the store, exchange
/// it for a token (then a long-lived one, and the account's name), keep the account, and answer 303 to the
/// result page, a clean URL without the code that reloads safely.
enum CallbackHandler {
    /// Codes longer than this are not Instagram's.
    static let maxCodeLength = 2048

    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let code = cleanCode(request.query["code"] ?? "")
        guard !code.isEmpty, code.utf8.count <= maxCodeLength, code.unicodeScalars.allSatisfy(isCodeCharacter) else {
            context.logger.notice("malformed code refused")
            return context.page(
                for: PageError(
                    400, "This link is not valid", "The authorization code in the address is malformed, so it was not sent to Instagram."))
        }
        let browser = request.browser
        let verdict = Timeline.measure("state check") { context.signer.verify(request.query["state"], browser: browser) }
        guard verdict == .valid else {
            context.logger.notice("state refused", metadata: ["verdict": "\(verdict)", "code": "\(Redact.short(code))"])
            return context.page(for: .state(verdict, lifetimeSeconds: context.signer.lifetimeSeconds))
        }
        if request.method == "HEAD" {
            // A HEAD (a link checker, a prefetch) must not spend the one-time code.
            return context.pages.render(
                "continue", status: 200, title: "Instagram authorization",
                values: [
                    "heading": "Instagram authorization", "message": "Open this page with GET to finish connecting.",
                    "url": context.startURL, "link": "Start again",
                ])
        }
        let exchange = Exchange(
            code: code, stateNonce: StateSigner.nonce(of: request.query["state"] ?? ""), browserTag: context.signer.bindingTag(browser ?? ""),
            client: request.request.remoteAddress, context: context, backends: backends)
        return await exchange.run()
    }

    /// What the store keeps of a code: its SHA-256, never the code itself.
    static func codeHash(_ code: String) -> String { sha256Hex(code) }

    /// Instagram's codes are URL-safe tokens; anything else is not worth a call.
    static func isCodeCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".", "~": true
        default: false
        }
    }

    /// A code pasted from the address bar may carry Instagram's `#_` fragment or stray whitespace.
    static func cleanCode(_ raw: String) -> String {
        var code = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if code.hasSuffix("#_") { code.removeLast(2) }
        return code
    }

    /// The page that sends the browser on to the result of a code (POST/redirect/GET).
    static func seeResult(_ ticket: String, _ context: HandlerContext) -> Response {
        let url = "\(context.startURL)?result=\(FormEncoding.percentEncode(ticket))"
        var response = context.pages.render(
            "continue", status: 303, title: "Instagram authorization",
            values: [
                "heading": "Instagram authorization", "message": "Instagram sent you back; the result of the authorization is ready.",
                "url": url, "link": "Continue to the result",
            ])
        response.headers.append(("Location", url))
        return response
    }
}
