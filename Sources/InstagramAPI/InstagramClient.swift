/// Instagram's OAuth and Graph calls for one app and one API profile.
public struct InstagramClient: Sendable {
    public let profile: APIProfile
    public let credentials: AppCredentials
    public let endpoints: Endpoints
    private let transport: any HTTPTransport

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
            OutgoingRequest(method: .post, url: "\(endpoints.apiBaseURL)/oauth/access_token", form: form))
        return try ResponseDecoder.tokenGrant(status: reply.status, body: reply.body)
    }
}
