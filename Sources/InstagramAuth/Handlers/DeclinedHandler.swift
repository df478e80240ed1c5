import FastCGI

/// The visitor declined at Instagram, which sent them back with `error`: its reason, and a link to try again.
enum DeclinedHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let query = request.query
        let reason = query["error_description"] ?? query["error_reason"] ?? query["error"]
        context.logger.info("authorization declined", metadata: ["error": "\(Formatting.clip(query["error"] ?? ""))"])
        return context.pages.render(
            "declined", status: 200, title: "Instagram access not granted",
            values: ["reason": Formatting.clip(reason ?? ""), "startURL": context.startURL])
    }
}
