import Foundation

/// A token from the long-lived exchange or a refresh: valid about 60 days.
public struct LongLivedToken: Sendable, Equatable {
    public var accessToken: String
    public var expiresInSeconds: Int

    public init(accessToken: String, expiresInSeconds: Int) {
        self.accessToken = accessToken
        self.expiresInSeconds = expiresInSeconds
    }
}

/// Who a token belongs to, from `/me`.
public struct InstagramProfile: Sendable, Equatable {
    public var userID: String
    public var username: String
    public var accountType: String?

    public init(userID: String, username: String, accountType: String? = nil) {
        self.userID = userID
        self.username = username
        self.accountType = accountType
    }
}

extension ResponseDecoder {
    public static func longLivedToken(status: Int, body: [UInt8]) throws(InstagramError) -> LongLivedToken {
        let json = try object(status: status, body: body)
        guard let token = json["access_token"]?.string, !token.isEmpty else {
            throw .unexpectedResponse(status: status, detail: "no access_token in the answer")
        }
        guard let expiresIn = json["expires_in"]?.int, expiresIn > 0 else {
            throw .unexpectedResponse(status: status, detail: "no expires_in in the answer")
        }
        return LongLivedToken(accessToken: token, expiresInSeconds: expiresIn)
    }

    public static func profile(status: Int, body: [UInt8]) throws(InstagramError) -> InstagramProfile {
        let json = try object(status: status, body: body)
        guard let id = json["user_id"]?.identifier ?? json["id"]?.identifier else {
            throw .unexpectedResponse(status: status, detail: "no user id in the profile")
        }
        guard let username = json["username"]?.string, !username.isEmpty else {
            throw .unexpectedResponse(status: status, detail: "no username in the profile")
        }
        return InstagramProfile(userID: id, username: username, accountType: json["account_type"]?.string)
    }
}
