import InstagramAPI

/// A page that says what went wrong: rendered with the `error` template, its status the HTTP status.
public struct PageError: Error, Sendable, Equatable {
    public var status: Int
    public var heading: String
    public var message: String
    /// Words from outside (Instagram's message), clipped and escaped.
    public var detail: String?
    /// What the visitor or the site's owner can do about it.
    public var hint: String?

    public init(_ status: Int, _ heading: String, _ message: String, detail: String? = nil, hint: String? = nil) {
        self.status = status
        self.heading = heading
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    static func methodNotAllowed(allow methods: [String]) -> PageError {
        let list = methods.count > 1 ? methods.dropLast().joined(separator: ", ") + " and " + methods.last! : methods.joined()
        return PageError(405, "Method not allowed", "This page answers \(list) requests only.")
    }

    static let notFound = PageError(404, "Not found", "This address is not one of this page's.")

    /// Over `CallbackLimit`: nothing is sent to Instagram.
    static func tooManyRequests(retryAfter seconds: Int) -> PageError {
        PageError(
            429, "Too many attempts", "Too many authorizations came from here in the last minute, so this one was not sent to Instagram.",
            hint: "Wait \(Formatting.duration(seconds)) and reload this page.")
    }

    /// A second code with a `state` that already brought one: nothing is sent to Instagram.
    static let stateUsed = PageError(
        400, "This authorization was already used",
        "Each authorization works for one Instagram answer, and this one already brought a code, so this code was not used.",
        hint: "Start again to connect an account.")

    /// A missing, forged, expired or other browser's `state`.
    static func state(_ verdict: StateSigner.Verdict, lifetimeSeconds: Int) -> PageError {
        let heading = "The authorization could not be verified"
        return switch verdict {
        case .missing:
            PageError(400, heading, "The answer from Instagram carries no state, so it cannot be checked and was not used.")
        case .forged:
            PageError(403, heading, "The state in the address was not issued by this site, so the code was not used.")
        case .expired:
            PageError(
                400, heading, "The authorization took longer than \(Formatting.duration(lifetimeSeconds)) and has expired.")
        case .noCookie:
            PageError(
                403, heading, "This browser did not start the authorization, or it does not keep cookies for this site.",
                hint: "Open this page and click Authorize in the same browser, with cookies allowed.")
        case .otherBrowser:
            PageError(403, heading, "The authorization was started in another browser, so it cannot be finished in this one.")
        case .valid:
            PageError(500, heading, "")
        }
    }

    /// A call to Instagram that failed while `doing` something: 504 for a timeout, 502 otherwise. Only this
    /// site's own words, and Instagram's error message, are shown: never a URL, a token or a secret.
    static func instagram(_ error: InstagramError, while doing: String) -> PageError {
        switch error {
        case .timedOut(let seconds):
            return PageError(
                504, "Instagram did not answer",
                "Instagram did not answer within \(Formatting.duration(seconds)) while \(doing). Please try again in a few minutes.")
        case .unreachable:
            return PageError(
                502, "Instagram could not be reached",
                "The connection to Instagram failed while \(doing). Please try again in a few minutes.")
        case .tlsFailed(let reason):
            return PageError(
                502, "Instagram could not be reached securely",
                "The secure connection to Instagram failed while \(doing): \(reason), so nothing was sent. "
                    + "If this lasts, tell the site's owner.")
        case .unexpectedResponse(let status, let detail):
            let message =
                switch status {
                case 300..<400:
                    "Instagram answered with a redirect (HTTP \(status)) while \(doing); this site does not follow redirects from Instagram."
                case 500...: "Instagram answered with a server error (HTTP \(status)) while \(doing)."
                default: "Instagram's answer (HTTP \(status)) while \(doing) was not one this site can read."
                }
            return PageError(
                502, "Instagram answered with an error", message + " Please try again in a few minutes.",
                detail: (300..<400).contains(status) ? nil : Formatting.clip(detail))
        case .rejected(let rejection):
            return PageError(
                502, "Instagram answered with an error", "Instagram refused the request while \(doing).",
                detail: Formatting.clip(rejection.message))
        }
    }
}
