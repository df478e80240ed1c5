import Accounts
import InstagramAPI

extension PageError {
    /// The words for an outcome other than a connected account, chosen when the result is shown.
    init(refused outcome: CallbackOutcome) {
        switch outcome {
        case .connected:
            self.init(500, "Instagram authorization", "The account was connected.")
        case .codeRefused(let message):
            self.init(
                400, "Instagram did not accept the authorization", "Instagram refused to exchange the code for an access token.",
                detail: Formatting.clip(message), hint: InstagramHints.hint(for: message))
        case .notAllowed(let userID, let username):
            self.init(
                403, "This account may not connect here",
                "The Instagram account @\(username) (\(userID)) is not on this site's list of allowed accounts, so it was not connected.")
        case .lookupFailed(let failure):
            self = .instagram(failure.error, while: "looking up the account")
            hint = "No account was connected. Start again to authorize once more."
        }
    }
}

extension InstagramFailure {
    /// What a store keeps of a failed call.
    init(_ error: InstagramError) {
        switch error {
        case .rejected(let rejection): self.init(.rejected, number: rejection.status, detail: rejection.message)
        case .unreachable(let reason): self.init(.unreachable, detail: reason)
        case .tlsFailed(let reason): self.init(.tlsFailed, detail: reason)
        case .timedOut(let seconds): self.init(.timedOut, number: seconds)
        case .unexpectedResponse(let status, let detail): self.init(.unexpectedResponse, number: status, detail: detail)
        }
    }

    /// The failed call again, for its page.
    var error: InstagramError {
        switch kind {
        case .rejected: .rejected(.init(status: number, message: detail))
        case .unreachable: .unreachable(detail)
        case .tlsFailed: .tlsFailed(detail)
        case .timedOut: .timedOut(seconds: number)
        case .unexpectedResponse: .unexpectedResponse(status: number, detail: detail)
        }
    }
}
