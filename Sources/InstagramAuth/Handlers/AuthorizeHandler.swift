import FastCGI
import InstagramAPI

/// The page most visits ask for: the Authorize with Instagram link, its `state` signed and bound to this
/// browser by the binding cookie.
enum AuthorizeHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let browser = request.browser ?? context.cookie.newValue()
        return context.authorizePage.response(
            for: context.signer.issue(browser: browser), extraHeaders: [("Set-Cookie", context.cookie.header(value: browser))])
    }

    /// The page for one state, rendered in full (`HandlerContext.authorizePage` renders it once, around a marker).
    static func page(state: String, pages: Pages, linkWithoutState: String, stateValidity: String) -> Response {
        pages.render(
            "authorize", status: 200, title: "Connect Instagram",
            values: ["authorizeURL": AuthorizeLink(withoutState: linkWithoutState, state: state).url, "stateValidity": stateValidity])
    }
}
