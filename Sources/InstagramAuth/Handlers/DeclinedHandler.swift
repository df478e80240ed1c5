import FastCGI

/// The visitor declined at Instagram, which sent them back with `error`: its reason, and a link to try again.
/// Instagram's words are shown only with a `state` this site issued to this browser: without one, anyone
/// could link here with a message of their choosing.
enum DeclinedHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let query = request.query
        let genuine = context.signer.verify(query["state"], browser: request.browser) == .valid
        let reason = genuine ? query["error_description"] ?? query["error_reason"] ?? query["error"] : nil
        context.logger.info(
            "authorization declined", metadata: ["error": "\(Formatting.clip(query["error"] ?? ""))", "state": "\(genuine ? "valid" : "not valid")"])
        return context.pages.render(
            "declined", status: 200, title: "Instagram access not granted",
            values: ["reason": Formatting.clip(reason ?? ""), "startURL": context.startURL])
    }
}
