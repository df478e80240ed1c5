/// The link that sends a visitor to Instagram's consent dialog.
public struct AuthorizeLink: Sendable, Equatable {
    public let url: String

    public init(profile: APIProfile, credentials: AppCredentials, endpoints: Endpoints, scopes: [String], state: String) {
        var fields: [(String, String)] = [
            (profile.credentialFields.id, credentials.appID),
            ("redirect_uri", credentials.redirectURI),
            ("scope", scopes.joined(separator: ",")),
            ("response_type", "code"),
        ]
        if profile == .instagramLogin { fields.append(("enable_fb_login", "0")) }
        fields.append(("state", state))
        url = "\(endpoints.oauthBaseURL)/oauth/authorize?\(FormEncoding.encode(fields))"
    }
}
