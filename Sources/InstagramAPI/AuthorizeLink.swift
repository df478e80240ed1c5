/// The link that sends a visitor to Instagram's consent dialog.
public struct AuthorizeLink: Sendable, Equatable {
    public let url: String

    public init(profile: APIProfile, credentials: AppCredentials, endpoints: Endpoints, scopes: [String], state: String) {
        self.init(
            withoutState: Self.withoutState(profile: profile, credentials: credentials, endpoints: endpoints, scopes: scopes), state: state)
    }

    /// The link from `withoutState(…)`, made once for many links, and this link's state.
    public init(withoutState: String, state: String) {
        url = withoutState + FormEncoding.percentEncode(state)
    }

    /// The link up to its state's value, which comes last: the same for every link of one app.
    public static func withoutState(profile: APIProfile, credentials: AppCredentials, endpoints: Endpoints, scopes: [String]) -> String {
        var fields: [(String, String)] = [
            (profile.credentialFields.id, credentials.appID),
            ("redirect_uri", credentials.redirectURI),
            ("scope", scopes.joined(separator: ",")),
            ("response_type", "code"),
        ]
        if profile == .instagramLogin { fields.append(("enable_fb_login", "0")) }
        return "\(endpoints.oauthBaseURL)/oauth/authorize?\(FormEncoding.encode(fields))&state="
    }
}
