/// One parser under fuzzing: bytes in, invariants checked.
public struct FuzzTarget: Sendable {
    public let name: String
    /// What it feeds and what it checks, for `--list`.
    public let summary: String
    /// Longer inputs are not worth trying (libFuzzer's `-max_len`).
    public let maxLength: Int
    private let body: @Sendable ([UInt8]) throws(InvariantViolation) -> Void

    init(_ name: String, maxLength: Int, _ summary: String, _ body: @escaping @Sendable ([UInt8]) throws(InvariantViolation) -> Void) {
        self.name = name
        self.summary = summary
        self.maxLength = maxLength
        self.body = body
    }

    /// Feeds one input to the parser. A trap in the parser stops the process (the fuzzer reports it);
    /// a broken invariant is thrown.
    public func run(_ input: [UInt8]) throws(InvariantViolation) {
        try body(input)
    }
}

/// A property of a parser that one input broke.
public struct InvariantViolation: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

public enum FuzzTargets {
    /// Every target, by the name `scripts/fuzz` and the corpus folders use.
    public static let all: [FuzzTarget] = [
        FuzzTarget(
            "query", maxLength: 4096,
            "FormEncoding.decode/encode/unescape/percentEncode: every '&' and first '=' separate, encode then decode is the identity",
            QueryTarget.run),
        FuzzTarget(
            "cookie", maxLength: 4096,
            "CookieHeader and BrowserCookie: every ';' and first '=' separate, the first cookie wins, well-formed ids are header-safe",
            CookieTarget.run),
        FuzzTarget(
            "state", maxLength: 512,
            "StateSigner.verify against an independent check: only the exact string issued verifies; issue then verify round-trips",
            StateTarget.run),
        FuzzTarget(
            "config", maxLength: 8192,
            "ConfigurationFile.parse and Configuration.load: CRLF reads as LF, values re-read the same, loaded values obey their rules, no secret in an error",
            ConfigTarget.run),
        FuzzTarget(
            "defines", maxLength: 8192,
            "LegacyDefines (import-php): the configuration it writes reads back as exactly the constants it found",
            DefinesTarget.run),
        FuzzTarget(
            "instagram", maxLength: 8192,
            "ResponseDecoder on Instagram's bodies: any body decodes or fails in its kind; generated bodies of every shape decode to their values",
            InstagramTarget.run),
        FuzzTarget(
            "params", maxLength: 8192,
            "FastCGI params to Request: NAME=value split at the first '=', body length limits, one result whatever the params' order",
            ParamsTarget.run),
        FuzzTarget(
            "scanner", maxLength: 8192,
            "RequestScanner on raw socket bytes: decisions hold when more bytes follow; a well-formed request is whole, none of its prefixes is",
            ScannerTarget.run),
        FuzzTarget(
            "page", maxLength: 8192,
            "The router on a whole request, Instagram's answers taken from the input: status, headers, no script, nothing sent without a valid state, no secret in a page or log",
            PageTarget.run),
        FuzzTarget(
            "signed-request", maxLength: 6144,
            "SignedRequest.verify (Meta's callbacks) against an independent check: only a payload object with HMAC-SHA256, signed with the secret, names its user; sign then verify round-trips",
            SignedRequestTarget.run),
    ]

    public static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}

/// Fails the input with `message` unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(InvariantViolation) {
    if !condition { throw InvariantViolation(message()) }
}

extension [UInt8] {
    /// The bytes as text, invalid UTF-8 replaced: what the program makes of bytes from outside.
    var text: String { String(decoding: self, as: UTF8.self) }

    /// Splits at the first occurrence of `separator`; the second part is nil when it does not occur.
    func splitOnce(_ separator: [UInt8]) -> ([UInt8], [UInt8]?) {
        guard !separator.isEmpty, count >= separator.count else { return (self, nil) }
        for start in 0...(count - separator.count) where self[start..<(start + separator.count)].elementsEqual(separator) {
            return (Array(self[..<start]), Array(self[(start + separator.count)...]))
        }
        return (self, nil)
    }
}

extension String {
    /// How a human would read it in a failure message: escaped, and cut when long.
    var shown: String {
        let escaped = debugDescription
        return escaped.count > 300 ? String(escaped.prefix(300)) + "…" : escaped
    }
}
