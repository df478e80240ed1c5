/// Instagram's OAuth and Graph calls for one app and one API profile.
public struct InstagramClient: Sendable {
    public let profile: APIProfile
    public let credentials: AppCredentials
    public let endpoints: Endpoints
    let transport: any HTTPTransport

    public init(profile: APIProfile, credentials: AppCredentials, endpoints: Endpoints, transport: any HTTPTransport) {
        self.profile = profile
        self.credentials = credentials
        self.endpoints = endpoints
        self.transport = transport
    }

    /// POSTs the code to the token endpoint, form-encoded, with the profile's field names.
    public func exchange(code: String) async throws(InstagramError) -> TokenGrant {
        let fields = profile.credentialFields
        let form: [(String, String)] = [
            (fields.id, credentials.appID),
            (fields.secret, credentials.appSecret),
            ("grant_type", "authorization_code"),
            ("redirect_uri", credentials.redirectURI),
            ("code", code),
        ]
        let reply = try await transport.send(
            OutgoingRequest(.token, method: .post, url: "\(endpoints.apiBaseURL)/oauth/access_token", form: form))
        return try ResponseDecoder.tokenGrant(status: reply.status, body: reply.body)
    }

    /// Trades a short-lived token for a long-lived one (about 60 days). Carries the app secret: server side only.
    public func exchangeForLongLived(_ shortLived: String) async throws(InstagramError) -> LongLivedToken {
        let query = FormEncoding.encode([
            ("grant_type", "ig_exchange_token"), ("client_secret", credentials.appSecret), ("access_token", shortLived),
        ])
        let reply = try await transport.send(OutgoingRequest(.longLived, method: .get, url: "\(endpoints.graphBaseURL)/access_token?\(query)"))
        return try ResponseDecoder.longLivedToken(status: reply.status, body: reply.body)
    }

    /// Renews a long-lived token that is at least 24 hours old and not expired.
    public func refresh(_ longLived: String) async throws(InstagramError) -> LongLivedToken {
        let query = FormEncoding.encode([("grant_type", "ig_refresh_token"), ("access_token", longLived)])
        let reply = try await transport.send(
            OutgoingRequest(.refresh, method: .get, url: "\(endpoints.graphBaseURL)/refresh_access_token?\(query)"))
        return try ResponseDecoder.longLivedToken(status: reply.status, body: reply.body)
    }

    /// The account a token belongs to.
    public func profile(accessToken: String) async throws(InstagramError) -> InstagramProfile {
        let fields = profile == .instagramLogin ? "user_id,username,account_type" : "id,username,account_type"
        let query = FormEncoding.encode([("fields", fields), ("access_token", accessToken)])
        let reply = try await transport.send(OutgoingRequest(.profile, method: .get, url: "\(endpoints.graphBaseURL)/me?\(query)"))
        return try ResponseDecoder.profile(status: reply.status, body: reply.body)
    }
}
