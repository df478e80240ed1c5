/// What a successful code exchange gives: a short-lived token for one Instagram user.
public struct TokenGrant: Sendable, Equatable {
    public var accessToken: String
    /// Kept as a string: ids can exceed 2^53.
    public var userID: String
    public var permissions: [String]

    public init(accessToken: String, userID: String, permissions: [String] = []) {
        self.accessToken = accessToken
        self.userID = userID
        self.permissions = permissions
    }
}

/// Turning Instagram's bodies into values or errors, whatever shape they come in.
public enum ResponseDecoder {
    /// Decodes the token endpoint's answer: flat or `data[]`-wrapped, `user_id` as number or string,
    /// `permissions` as string or array; `error_type` and Graph `error{}` bodies become rejections.
    public static func tokenGrant(status: Int, body: [UInt8]) throws(InstagramError) -> TokenGrant {
        let json = try object(status: status, body: body)
        var grant = json
        if case .array(let items)? = json["data"] {
            guard let first = items.first else {
                throw .unexpectedResponse(status: status, detail: "an empty data list")
            }
            grant = first
        }
        guard let token = grant["access_token"]?.string, !token.isEmpty else {
            throw .unexpectedResponse(status: status, detail: "no access_token in the answer")
        }
        guard let userID = grant["user_id"]?.identifier ?? grant["id"]?.identifier else {
            throw .unexpectedResponse(status: status, detail: "no user_id in the answer")
        }
        let permissions: [String] =
            switch grant["permissions"] {
            case .string(let list)?: list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            case .array(let items)?: items.compactMap(\.string)
            default: []
            }
        return TokenGrant(accessToken: token, userID: userID, permissions: permissions)
    }

    /// Parses a JSON object, turning error bodies and non-2xx statuses into errors.
    static func object(status: Int, body: [UInt8]) throws(InstagramError) -> JSONValue {
        if (300..<400).contains(status) {
            throw .unexpectedResponse(status: status, detail: "a redirect to another address, which is not followed")
        }
        let json = JSONValue.parse(body)
        if let json, let rejection = rejection(status: status, json: json) {
            if status >= 500 {
                throw .unexpectedResponse(status: status, detail: rejection.message)
            }
            throw .rejected(rejection)
        }
        guard (200..<300).contains(status) else {
            throw .unexpectedResponse(status: status, detail: json == nil ? "a body that is not JSON" : "no error in the body")
        }
        guard let json else { throw .unexpectedResponse(status: status, detail: "a body that is not JSON") }
        guard case .object = json else {
            throw .unexpectedResponse(status: status, detail: "a body that is not a JSON object")
        }
        return json
    }

    /// The error in any of Instagram's shapes: `{"error_type","code","error_message"}`,
    /// Graph's `{"error":{"message","type","code","error_subcode"}}`, or OAuth's `{"error","error_description"}`.
    static func rejection(status: Int, json: JSONValue) -> InstagramError.Rejection? {
        if json["error_type"] != nil || json["error_message"] != nil {
            return .init(
                status: status, type: json["error_type"]?.string, code: json["code"]?.int,
                message: json["error_message"]?.string ?? "no message")
        }
        if let error = json["error"] {
            if case .object = error {
                let message = error["error_user_msg"]?.string ?? error["message"]?.string ?? "no message"
                return .init(
                    status: status, type: error["type"]?.string, code: error["code"]?.int,
                    subcode: error["error_subcode"]?.int, message: message)
            }
            if let name = error.string {
                return .init(status: status, type: name, message: json["error_description"]?.string ?? name)
            }
        }
        return nil
    }
}
