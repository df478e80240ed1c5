/// The two Instagram APIs a site can authorize against.
public enum APIProfile: String, Sendable, CaseIterable {
    /// Today's "Instagram API with Instagram Login" (Business and Creator accounts).
    case instagramLogin = "instagram-login"
    /// The legacy Basic Display API the PHP script used; Instagram has answered it with errors since December 2024.
    case basicDisplay = "basic-display"

    public var defaultScopes: [String] {
        switch self {
        case .instagramLogin: ["instagram_business_basic"]
        case .basicDisplay: ["user_profile", "user_media"]
        }
    }

    public var defaultOAuthBaseURL: String {
        switch self {
        case .instagramLogin: "https://www.instagram.com"
        case .basicDisplay: "https://api.instagram.com"
        }
    }

    public static let defaultAPIBaseURL = "https://api.instagram.com"
    public static let defaultGraphBaseURL = "https://graph.instagram.com"

    /// The names of the app id and secret fields: the legacy script sent `app_id`/`app_secret`.
    var credentialFields: (id: String, secret: String) {
        switch self {
        case .instagramLogin: ("client_id", "client_secret")
        case .basicDisplay: ("app_id", "app_secret")
        }
    }
}

/// The app's registration at Instagram, and where Instagram lives.
public struct AppCredentials: Sendable {
    public var appID: String
    public var appSecret: String
    public var redirectURI: String

    public init(appID: String, appSecret: String, redirectURI: String) {
        self.appID = appID
        self.appSecret = appSecret
        self.redirectURI = redirectURI
    }
}

public struct Endpoints: Sendable {
    public var oauthBaseURL: String
    public var apiBaseURL: String
    public var graphBaseURL: String

    public init(oauthBaseURL: String, apiBaseURL: String, graphBaseURL: String) {
        self.oauthBaseURL = Endpoints.trimmed(oauthBaseURL)
        self.apiBaseURL = Endpoints.trimmed(apiBaseURL)
        self.graphBaseURL = Endpoints.trimmed(graphBaseURL)
    }

    public static func defaults(for profile: APIProfile) -> Endpoints {
        Endpoints(
            oauthBaseURL: profile.defaultOAuthBaseURL,
            apiBaseURL: APIProfile.defaultAPIBaseURL,
            graphBaseURL: APIProfile.defaultGraphBaseURL)
    }

    private static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}
