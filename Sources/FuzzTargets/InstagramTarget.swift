import InstagramAPI

/// Instagram's answers as `ResponseDecoder` reads them: the token exchange, the long-lived exchange and
/// refresh, `/me`, and a page of `/me/media`.
///
/// Input: a first line `STATUS` and a body (any bytes), fed to every decoder; or a first line `generate`,
/// after which the bytes choose a body of one of Instagram's documented shapes, written here as JSON,
/// which must decode to exactly the values written.
enum InstagramTarget {
    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let (head, rest) = input.splitOnce([UInt8(ascii: "\n")])
        if head.text == "generate" {
            var source = ByteSource(rest ?? [])
            try generated(&source)
        } else if let status = Int(head.text), (100...599).contains(status) {
            try any(status: status, body: rest ?? [])
        } else {
            try any(status: 200, body: input)
        }
    }

    // MARK: - Any body

    /// What every decoded media page holds, whatever the body: numeric ids, media types of capital letters, only
    /// http(s) URLs (no `javascript:` reaches a page), and every field within its bound.
    static func mediaPageHolds(_ page: MediaPage) throws(InvariantViolation) {
        func isLink(_ url: String?) -> Bool {
            guard let url else { return true }
            let lower = url.prefix(8).lowercased()
            return (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && url.count <= 4096
        }
        func isIdentifier(_ id: String) -> Bool { !id.isEmpty && id.count <= 64 && id.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        func isMediaType(_ type: String) -> Bool { !type.isEmpty && type.count <= 32 && type.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x5F } }
        for item in page.items {
            try require(isIdentifier(item.id) && isMediaType(item.mediaType), "a media item \(item.id) of type \(item.mediaType)")
            try require(isLink(item.mediaURL) && isLink(item.thumbnailURL) && isLink(item.permalink), "a media item's URL that is not http(s)")
            try require((item.caption?.count ?? 0) <= 4096 && (item.username?.count ?? 0) <= 64 && (item.timestamp?.count ?? 0) <= 40, "an unbounded field")
            try require(item.instagramMediaURL == nil && item.instagramThumbnailURL == nil, "a copy's URL from Instagram's answer")
            for child in item.children?.data ?? [] {
                try require(isIdentifier(child.id) && isMediaType(child.mediaType), "a carousel item \(child.id) of type \(child.mediaType)")
                try require(isLink(child.mediaURL) && isLink(child.thumbnailURL), "a carousel item's URL that is not http(s)")
            }
        }
        if let after = page.after { try require(!after.isEmpty && after.count <= 512, "a cursor of \(after.count) characters") }
    }

    static func any(status: Int, body: [UInt8]) throws(InvariantViolation) {
        let token = Result { () throws(InstagramError) in try ResponseDecoder.tokenGrant(status: status, body: body) }
        let long = Result { () throws(InstagramError) in try ResponseDecoder.longLivedToken(status: status, body: body) }
        let profile = Result { () throws(InstagramError) in try ResponseDecoder.profile(status: status, body: body) }
        let media = Result { () throws(InstagramError) in try ResponseDecoder.mediaPage(status: status, body: body) }

        if case .success(let grant) = token {
            try require((200..<300).contains(status), "a token grant from HTTP \(status)")
            try require(!grant.accessToken.isEmpty && !grant.userID.isEmpty, "a token grant without token or user id: \(grant)")
        }
        if case .success(let token) = long {
            try require((200..<300).contains(status), "a long-lived token from HTTP \(status)")
            try require(!token.accessToken.isEmpty && token.expiresInSeconds > 0, "a long-lived token \(token)")
        }
        if case .success(let account) = profile {
            try require((200..<300).contains(status), "a profile from HTTP \(status)")
            try require(!account.userID.isEmpty && !account.username.isEmpty, "a profile \(account)")
        }
        if case .success(let page) = media {
            try require((200..<300).contains(status), "a media page from HTTP \(status)")
            try mediaPageHolds(page)
        }
        // Each failure is of a kind a decoder can give, for this status; and whether the body is
        // Instagram's refusal does not depend on which call it answered.
        var rejections: [InstagramError.Rejection?] = []
        for error in [token.failure, long.failure, profile.failure, media.failure] {
            switch error {
            case nil:
                rejections.append(nil)
            case .rejected(let rejection)?:
                try require(rejection.status == status && status < 500, "a rejection \(rejection) from HTTP \(status)")
                rejections.append(rejection)
            case .unexpectedResponse(let given, _)?:
                try require(given == status, "an unexpected response of HTTP \(given) from HTTP \(status)")
                rejections.append(nil)
            case let other?:
                throw InvariantViolation("a decoder gave \(other)")
            }
        }
        try require(
            rejections.allSatisfy { $0 == rejections[0] }, "the body is a refusal for one call and not another: \(rejections)")
    }

    // MARK: - Generated bodies

    static func generated(_ source: inout ByteSource) throws(InvariantViolation) {
        let statuses = [200, 200, 400, 401, 403, 500, 503]
        let status = statuses[source.int(below: statuses.count)]
        switch source.int(below: 6) {
        case 0: try tokenBody(&source)
        case 1: try longLivedBody(&source)
        case 2: try profileBody(&source)
        default: try errorBody(&source, status: status)
        }
    }

    static func tokenBody(_ source: inout ByteSource) throws(InvariantViolation) {
        let token = source.nonEmptyString()
        let (idJSON, id) = source.identifier()
        var permissions: [String] = []
        var members: [(String, String)] = [("access_token", JSON.string(token, &source)), ("user_id", idJSON)]
        switch source.int(below: 3) {
        case 0: break
        case 1:
            permissions = source.names()
            members.append(("permissions", JSON.string(permissions.joined(separator: ","), &source)))
        default:
            permissions = source.names()
            members.append(("permissions", "[" + permissions.map { JSON.string($0, &source) }.joined(separator: ",") + "]"))
        }
        members += source.extraMembers()
        var body = JSON.object(members.shuffled(by: &source), &source)
        if source.bool() { body = #"{"data":["# + body + "]}" }
        let decoded = Result { () throws(InstagramError) in try ResponseDecoder.tokenGrant(status: 200, body: Array(body.utf8)) }
        let expected = TokenGrant(accessToken: token, userID: id, permissions: permissions)
        try require(decoded.success == expected, "\(body.shown) decoded as \(decoded), not \(expected)")
    }

    static func longLivedBody(_ source: inout ByteSource) throws(InvariantViolation) {
        let token = source.nonEmptyString()
        let expires = 1 + source.int(below: 1 << 30)
        let expiresJSON = [String(expires), "\"\(expires)\"", "\(expires).0"][source.int(below: 3)]
        var members = [("access_token", JSON.string(token, &source)), ("token_type", "\"bearer\""), ("expires_in", expiresJSON)]
        members += source.extraMembers()
        let body = JSON.object(members.shuffled(by: &source), &source)
        let decoded = Result { () throws(InstagramError) in try ResponseDecoder.longLivedToken(status: 200, body: Array(body.utf8)) }
        let expected = LongLivedToken(accessToken: token, expiresInSeconds: expires)
        try require(decoded.success == expected, "\(body.shown) decoded as \(decoded), not \(expected)")
    }

    static func profileBody(_ source: inout ByteSource) throws(InvariantViolation) {
        let (idJSON, id) = source.identifier()
        let username = source.nonEmptyString()
        var members = [(source.bool() ? "user_id" : "id", idJSON), ("username", JSON.string(username, &source))]
        var accountType: String?
        if source.bool() {
            accountType = ["BUSINESS", "MEDIA_CREATOR", "PERSONAL"][source.int(below: 3)]
            members.append(("account_type", JSON.string(accountType!, &source)))
        }
        members += source.extraMembers()
        let body = JSON.object(members.shuffled(by: &source), &source)
        let decoded = Result { () throws(InstagramError) in try ResponseDecoder.profile(status: 200, body: Array(body.utf8)) }
        let expected = InstagramProfile(userID: id, username: username, accountType: accountType)
        try require(decoded.success == expected, "\(body.shown) decoded as \(decoded), not \(expected)")
    }

    /// The three error shapes: Instagram's OAuth one, Graph's `error{}`, and plain OAuth `error`/`error_description`.
    static func errorBody(_ source: inout ByteSource, status: Int) throws(InvariantViolation) {
        let message = source.string()
        let type = source.nonEmptyString()
        let code = source.int(below: 1000)
        let body: String
        let expected: InstagramError.Rejection
        switch source.int(below: 3) {
        case 0:
            body = JSON.object(
                [("error_type", JSON.string(type, &source)), ("code", String(code)), ("error_message", JSON.string(message, &source))]
                    .shuffled(by: &source), &source)
            expected = .init(status: status, type: type, code: code, message: message)
        case 1:
            let subcode = source.bool() ? source.int(below: 10000) : nil
            var inner = [
                ("message", JSON.string(message, &source)), ("type", JSON.string(type, &source)), ("code", String(code)),
                ("fbtrace_id", JSON.string("A" + source.nonEmptyString(), &source)),
            ]
            if let subcode { inner.append(("error_subcode", String(subcode))) }
            body = JSON.object([("error", JSON.object(inner.shuffled(by: &source), &source))], &source)
            expected = .init(status: status, type: type, code: code, subcode: subcode, message: message)
        default:
            body = JSON.object(
                [("error", JSON.string(type, &source)), ("error_description", JSON.string(message, &source))].shuffled(by: &source),
                &source)
            expected = .init(status: status, type: type, message: message)
        }
        let outcome: InstagramError = status >= 500 ? .unexpectedResponse(status: status, detail: message) : .rejected(expected)
        for (call, decoded) in [
            ("token", Result { () throws(InstagramError) in _ = try ResponseDecoder.tokenGrant(status: status, body: Array(body.utf8)) }),
            ("long-lived", Result { () throws(InstagramError) in _ = try ResponseDecoder.longLivedToken(status: status, body: Array(body.utf8)) }),
            ("profile", Result { () throws(InstagramError) in _ = try ResponseDecoder.profile(status: status, body: Array(body.utf8)) }),
        ] {
            try require(decoded.failure == outcome, "HTTP \(status) \(body.shown) for the \(call) call gave \(decoded), not \(outcome)")
        }
    }
}

/// Values drawn from the fuzzer's bytes; zeros once they run out.
struct ByteSource {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func int(below bound: Int) -> Int {
        var value = 0
        for _ in 0..<4 { value = value << 8 | Int(byte()) }
        return value % bound
    }

    mutating func uint64() -> UInt64 {
        (0..<8).reduce(UInt64(0)) { value, _ in value << 8 | UInt64(byte()) }
    }

    /// A string of up to `limit` bytes, any UTF-8 (invalid sequences replaced).
    mutating func string(limit: Int = 40) -> String {
        let count = int(below: limit + 1)
        return String(decoding: (0..<count).map { _ in byte() }, as: UTF8.self)
    }

    mutating func nonEmptyString() -> String {
        let text = string()
        return text.isEmpty ? "x" : text
    }

    /// An Instagram user id as it may come: a JSON number (ids exceed 2^53), or a string.
    mutating func identifier() -> (json: String, value: String) {
        switch int(below: 3) {
        case 0:
            let id = String(uint64())
            return (id, id)
        case 1:
            let id = String(Int64(bitPattern: uint64()))
            return (id, id)
        default:
            let id = nonEmptyString()
            return (JSON.string(id, &self), id)
        }
    }

    /// Permission names: letters and underscores, as Instagram's are.
    mutating func names() -> [String] {
        let letters = Array("abcdefghijklmnopqrstuvwxyz_")
        return (0..<(1 + int(below: 4))).map { _ in String((0..<(1 + int(below: 24))).map { _ in letters[int(below: letters.count)] }) }
    }

    /// Members Instagram may add that the decoder must ignore.
    mutating func extraMembers() -> [(String, String)] {
        (0..<int(below: 3)).map { index in
            let values = ["null", "true", "[]", "{}", "12.5e3", "[1,{\"a\":null}]", JSON.string(string(), &self)]
            return ("extra_\(index)", values[int(below: values.count)])
        }
    }
}

extension Array {
    func shuffled(by source: inout ByteSource) -> [Element] {
        var items = self
        if items.count > 1 {
            for index in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(index, source.int(below: index + 1)) }
        }
        return items
    }
}

extension Result {
    var success: Success? { if case .success(let value) = self { value } else { nil } }
    var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}

/// JSON text as Instagram's servers may write it: spacing and escaping chosen by the source.
enum JSON {
    static func string(_ text: String, _ source: inout ByteSource) -> String {
        let escapeAll = source.bool()
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "/" where escapeAll: out += "\\/"
            default:
                if scalar.value < 0x20 || (escapeAll && scalar.value > 0x7E) {
                    for unit in String(scalar).utf16 { out += "\\u" + hex4(unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func object(_ members: [(String, String)], _ source: inout ByteSource) -> String {
        let space = [" ", "", "\n  ", "\t"][source.int(below: 4)]
        return "{" + space + members.map { "\"\($0.0)\"" + space + ":" + space + $0.1 }.joined(separator: "," + space) + space + "}"
    }

    private static func hex4(_ unit: UInt16) -> String {
        let digits = String(unit, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
