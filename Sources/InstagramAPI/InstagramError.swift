/// Why a call to Instagram did not give what was asked. Each case maps to one kind of page.
public enum InstagramError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Instagram understood the request and refused it (bad code, wrong redirect URI, bad credentials, an invalid token).
    case rejected(Rejection)
    /// Instagram could not be reached: refused, reset, DNS.
    case unreachable(String)
    /// The TLS handshake failed, before anything was sent: a certificate that does not verify (untrusted, expired,
    /// for another host name), or no TLS at all.
    case tlsFailed(String)
    /// No answer within the configured timeout.
    case timedOut(seconds: Int)
    /// An answer that is not what Instagram sends: a 5xx, a redirect (never followed), or a body that isn't the expected JSON.
    case unexpectedResponse(status: Int, detail: String)

    public struct Rejection: Sendable, Equatable {
        public var status: Int
        public var type: String?
        public var code: Int?
        public var subcode: Int?
        public var message: String

        public init(status: Int, type: String? = nil, code: Int? = nil, subcode: Int? = nil, message: String) {
            self.status = status
            self.type = type
            self.code = code
            self.subcode = subcode
            self.message = message
        }

        /// Graph code 190: the token expired or was invalidated; the account must authorize again.
        public var isInvalidToken: Bool { code == 190 }

        /// Graph codes 4, 17, 32 and 613: a rate limit; back off and keep what was had.
        public var isRateLimited: Bool { [4, 17, 32, 613].contains(code ?? 0) }
    }

    public var description: String {
        switch self {
        case .rejected(let rejection):
            let type = rejection.type.map { "\($0): " } ?? ""
            let code = rejection.code.map { " (code \($0))" } ?? ""
            return "Instagram refused the request: \(type)\(rejection.message)\(code)"
        case .unreachable(let reason):
            return "Instagram could not be reached: \(reason)"
        case .tlsFailed(let reason):
            return "The TLS connection to Instagram failed: \(reason); nothing was sent"
        case .timedOut(let seconds):
            return "Instagram did not answer within \(seconds) s"
        case .unexpectedResponse(let status, let detail):
            return "Instagram answered with something unexpected (HTTP \(status)): \(detail)"
        }
    }
}
