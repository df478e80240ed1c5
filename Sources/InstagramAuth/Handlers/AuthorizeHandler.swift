import Accounts
import FastCGI
import InstagramAPI

/// The page most visits ask for: the Authorize with Instagram link, its `state` signed and bound to this
/// browser by the binding cookie.
enum AuthorizeHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response {
        let browser: String
        let state: String
        if let known = request.browser {
            browser = known
            state = context.signer.issue(browser: browser)
        } else {
            // A first visit needs a browser id and a state's nonce: one draw from the system's generator for both.
            let random = RandomBytes.make(BrowserCookie.randomCount + StateSigner.nonceCount)
            browser = context.cookie.newValue(random: random.prefix(BrowserCookie.randomCount))
            state = context.signer.issue(browser: browser, nonce: random.suffix(StateSigner.nonceCount))
        }
        return context.authorizePage.response(for: state, extraHeaders: [("Set-Cookie", context.cookie.header(value: browser))])
    }

    /// The page for one state, rendered in full (`HandlerContext.authorizePage` renders it once, around a marker).
    static func page(state: String, pages: Pages, linkWithoutState: String, stateValidity: String) -> Response {
        pages.render(
            "authorize", status: 200, title: "Connect Instagram",
            values: ["authorizeURL": AuthorizeLink(withoutState: linkWithoutState, state: state).url, "stateValidity": stateValidity])
    }
}
