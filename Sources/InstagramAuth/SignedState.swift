import Accounts
import Crypto
import Foundation

/// The `state` sent to Instagram and back: `v1.<issued>.<nonce>.<binding>.<mac>`.
/// The MAC (HMAC-SHA256) covers the rest; `binding` ties it to the browser's cookie, so a state
/// copied into another browser, or forged, or older than `lifetime`, is refused.
public struct StateSigner: Sendable {
    public enum Verdict: Equatable, Sendable {
        case valid
        case missing
        case forged
        case expired
        /// The state is genuine but this browser has no binding cookie (cookies blocked, or another browser).
        case noCookie
        /// The state is genuine but was issued to another browser.
        case otherBrowser
    }

    private let keyed: KeyedMAC
    public let lifetimeSeconds: Int

    public init(key: [UInt8], lifetimeSeconds: Int = 600) {
        self.keyed = KeyedMAC(HMAC<SHA256>(key: SymmetricKey(data: key)))
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// Random bytes in a state's nonce.
    public static let nonceCount = 12

    public func issue(browser: String, now: Date = Date()) -> String {
        issue(browser: browser, nonce: RandomBytes.make(Self.nonceCount)[...], now: now)
    }

    /// A state whose nonce is `nonce`, `nonceCount` random bytes the caller drew (with other random bytes it needs,
    /// in one call to the system's generator).
    public func issue(browser: String, nonce: ArraySlice<UInt8>, now: Date = Date()) -> String {
        precondition(nonce.count == Self.nonceCount, "a state's nonce is \(Self.nonceCount) random bytes")
        let issued = String(Int(now.timeIntervalSince1970))
        let nonce = Base64URL.encode(Array(nonce))
        let payload = "v1.\(issued).\(nonce).\(bindingTag(browser))"
        return "\(payload).\(mac(payload))"
    }

    public func verify(_ state: String?, browser: String?, now: Date = Date()) -> Verdict {
        guard let state, !state.isEmpty else { return .missing }
        let parts = state.split(separator: ".", omittingEmptySubsequences: false)
        guard state.utf8.count <= 256, parts.count == 5, parts[0] == "v1", let issued = Int(parts[1]) else {
            return .forged
        }
        let payload = parts[0..<4].joined(separator: ".")
        // The MAC exactly as issued: base64 decoding would also take other spellings of the same bytes
        // (the last character's unused bits), and so accept states this site never issued.
        guard constantTimeEqual(Array(parts[4].utf8), Array(mac(payload).utf8)) else {
            return .forged
        }
        let age = Int(now.timeIntervalSince1970) - issued
        guard age >= -60, age <= lifetimeSeconds else { return .expired }
        guard let browser, !browser.isEmpty else { return .noCookie }
        guard constantTimeEqual(Array(parts[3].utf8), Array(bindingTag(browser).utf8)) else { return .otherBrowser }
        return .valid
    }

    /// The random part of a state that `verify` found valid: what the store records, so the state is used once.
    public static func nonce(of state: String) -> String {
        String(state.split(separator: ".", omittingEmptySubsequences: false).dropFirst(2).first ?? "")
    }

    private func mac(_ payload: String) -> String {
        Base64URL.encode(keyed.code(payload.utf8))
    }

    /// A keyed digest of the browser's cookie: stored with callback results instead of the cookie itself.
    public func bindingTag(_ browser: String) -> String {
        Base64URL.encode(Array(keyed.code("browser:\(browser)".utf8).prefix(12)))
    }

}

/// Whether `a` and `b` are equal, in a time that depends on their length only: a MAC is never compared byte
/// by byte until the first difference.
private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

/// HMAC-SHA256 with the key already processed: each use starts from a copy of this state
/// (a value; the copy is made when it is first updated), so the key's pads are computed once.
/// Unchecked Sendable: the stored state is never changed after init.
struct KeyedMAC: @unchecked Sendable {
    private let initial: HMAC<SHA256>

    init(_ initial: HMAC<SHA256>) { self.initial = initial }

    func code(_ message: String.UTF8View) -> [UInt8] {
        var mac = initial
        var message = String(message)
        message.withUTF8 { mac.update(data: $0) }
        return Array(mac.finalize())
    }
}

/// The cookie that binds a `state` to the browser it was issued to. Its value is 16 random bytes and a MAC of
/// them, so a value this site did not issue (one tossed in from a sibling subdomain) is replaced, never
/// adopted. Over https its name carries the prefix browsers protect: `__Host-` where the page's path is `/`
/// (no other host or path may set it), `__Secure-` otherwise.
public struct BrowserCookie: Sendable {
    public static let baseName = "instagram_auth_browser"
    public let name: String
    public let path: String
    public let secure: Bool
    public let maxAgeSeconds: Int
    private let keyed: KeyedMAC
    /// What follows the value in `Set-Cookie`, the same every time.
    private let attributes: String

    public init(path: String, secure: Bool, maxAgeSeconds: Int, key: [UInt8]) {
        self.name = (secure ? (path == "/" ? "__Host-" : "__Secure-") : "") + Self.baseName
        self.path = path
        self.secure = secure
        self.maxAgeSeconds = maxAgeSeconds
        self.keyed = KeyedMAC(HMAC<SHA256>(key: SymmetricKey(data: Array("instagram-auth browser id v1".utf8) + key)))
        self.attributes = "; Path=\(path); Max-Age=\(maxAgeSeconds); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// Random bytes in a browser id.
    public static let randomCount = 16

    /// A fresh browser id: random, with its MAC.
    public func newValue() -> String {
        newValue(random: RandomBytes.make(Self.randomCount)[...])
    }

    /// A browser id made of `random`, `randomCount` bytes the caller drew.
    public func newValue(random: ArraySlice<UInt8>) -> String {
        precondition(random.count == Self.randomCount, "a browser id is \(Self.randomCount) random bytes")
        let random = Array(random)
        return Base64URL.encode(random + mac(random))
    }

    /// Whether this site issued `value`: the MAC of its random part, compared in constant time.
    public func isOurs(_ value: String) -> Bool {
        // Only the spelling issued: base64 decoding also takes `+` and `/`, which would be another binding tag.
        guard value.utf8.count == 32, let bytes = Base64URL.decode(value), bytes.count == 24, Base64URL.encode(bytes) == value else {
            return false
        }
        return constantTimeEqual(Array(bytes.suffix(8)), mac(Array(bytes.prefix(16))))
    }

    /// The browser id in a Cookie header, if this site issued it.
    public func value(in header: String?) -> String? {
        CookieHeader.value(named: name, in: header).flatMap { isOurs($0) ? $0 : nil }
    }

    private func mac(_ random: [UInt8]) -> [UInt8] {
        Array(keyed.code(Base64URL.encode(random).utf8).prefix(8))
    }

    /// The shape of a browser id: 32 base64url characters, 24 bytes.
    public static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == 32 && Base64URL.decode(value)?.count == 24
    }

    public func header(value: String) -> String {
        name + "=" + value + attributes
    }
}

/// Parsing of the `Cookie` request header: `a=1; b=2`.
public enum CookieHeader {
    /// The first cookie of that name. Split by unicode scalars, not characters: a `;` or `=` that a
    /// neighbour joins into one character (a prepended sign before it, a combining mark after it) still separates.
    public static func value(named name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.unicodeScalars.split(separator: ";") {
            // The first '=' ends the name: "=a=b" is a cookie without a name, not one named "a".
            guard let equals = pair.firstIndex(of: "="), pair.index(after: equals) < pair.endIndex else { continue }
            if String(pair[..<equals]).trimmingCharacters(in: .whitespaces) == name {
                let value = String(pair[pair.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
                let scalars = value.unicodeScalars
                if scalars.count >= 2, scalars.first == "\"", scalars.last == "\"" { return String(scalars.dropFirst().dropLast()) }
                return value
            }
        }
        return nil
    }
}

/// Codes and tokens in logs: enough to tell two apart, never enough to use.
public enum Redact {
    public static func short(_ secret: String) -> String {
        secret.utf8.count <= 8 ? "…(\(secret.utf8.count))" : "\(secret.prefix(4))…(\(secret.utf8.count))"
    }
}
