import Crypto
import Foundation
import InstagramAuth

/// The signed `state` as the callback checks it. Input: the state, then after the first newline the
/// browser id from the cookie (none when there is no newline).
///
/// The verdict is compared with an independent check written from the format
/// `v1.<issued>.<nonce>.<binding>.<mac>`: only the exact string the key signs is genuine.
enum StateTarget {
    /// The key the seed states in Fuzz/corpus/state were signed with, at `now`.
    static let key = Array("instagram-auth fuzz state key, 32+ bytes".utf8)
    static let lifetime = 600
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
    static let signer = StateSigner(key: key, lifetimeSeconds: lifetime)

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let (stateBytes, browserBytes) = input.splitOnce([UInt8(ascii: "\n")])
        let state = stateBytes.text
        let browser = browserBytes?.text

        let verdict = signer.verify(state, browser: browser, now: now)
        let expected = expectedVerdict(state, browser: browser)
        try require(
            verdict == expected, "state \(state.shown) with browser \(browser?.shown ?? "nil"): \(verdict), expected \(expected)")

        // Issue, then verify: valid in the same browser within the lifetime, and only then.
        let id = browser ?? ""
        let issued = signer.issue(browser: id, now: now)
        let fresh = signer.verify(issued, browser: id, now: now)
        try require(fresh == (id.isEmpty ? .noCookie : .valid), "a state just issued for \(id.shown) verifies as \(fresh)")
        try require(
            expectedVerdict(issued, browser: id) == fresh, "the issued state \(issued.shown) does not have the documented form")
        try require(
            signer.verify(issued, browser: id, now: now + TimeInterval(lifetime + 1)) == .expired,
            "a state past its lifetime is not expired")
        try require(
            signer.verify(issued, browser: id + "x", now: now) == .otherBrowser, "a state verifies in another browser")

        // No other spelling of the MAC verifies: its last character carries 4 bits and 2 unused ones,
        // so three other characters decode to the same bytes.
        let body = String(issued.dropLast())
        let last = base64URLAlphabet.firstIndex(of: issued.last!)!
        for replacement in [last ^ 1, last ^ 2, last ^ 3].map({ base64URLAlphabet[$0] }) {
            let altered = body + String(replacement)
            let alteredVerdict = signer.verify(altered, browser: id, now: now)
            try require(alteredVerdict == .forged, "\(altered.shown), altered from \(issued.shown), verifies as \(alteredVerdict)")
        }
    }

    static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func expectedVerdict(_ state: String, browser: String?) -> StateSigner.Verdict {
        if state.isEmpty { return .missing }
        let parts = state.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard state.utf8.count <= 256, parts.count == 5, parts[0] == "v1", let issued = Int(parts[1]) else { return .forged }
        let payload = parts[0..<4].joined(separator: ".")
        guard Array(parts[4].utf8) == Array(base64URL(HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: SymmetricKey(data: key))).utf8)
        else { return .forged }
        let age = Int(now.timeIntervalSince1970) - issued
        guard age >= -60, age <= lifetime else { return .expired }
        guard let browser, !browser.isEmpty else { return .noCookie }
        let tag = HMAC<SHA256>.authenticationCode(for: Array("browser:\(browser)".utf8), using: SymmetricKey(data: key))
        guard Array(parts[3].utf8) == Array(base64URL(Array(tag).prefix(12)).utf8) else { return .otherBrowser }
        return .valid
    }

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
