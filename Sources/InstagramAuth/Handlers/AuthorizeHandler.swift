import FastCGI
import InstagramAPI

/// The page most visits ask for: the Authorize with Instagram link, its `state` signed and bound to this
/// browser by the binding cookie.
enum AuthorizeHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let browser = request.browser ?? context.cookie.newValue()
        let link = AuthorizeLink(withoutState: context.authorizeLinkWithoutState, state: context.signer.issue(browser: browser))
        return context.pages.render(
            "authorize", status: 200, title: "Connect Instagram",
            values: ["authorizeURL": link.url, "stateValidity": Formatting.duration(context.signer.lifetimeSeconds)],
            extraHeaders: [("Set-Cookie", context.cookie.header(value: browser))])
    }
}
