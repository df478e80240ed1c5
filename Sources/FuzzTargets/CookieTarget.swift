import Foundation
import InstagramAuth

/// The `Cookie` request header as the page reads it for the browser binding.
enum CookieTarget {
    /// The page's cookie over https below `/instagram/`: `__Secure-instagram_auth_browser`.
    static let cookie = BrowserCookie(path: "/instagram/", secure: true, maxAgeSeconds: 900, key: Array("cookie fuzz key".utf8))

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let header = input.text
        let name = cookie.name
        let value = CookieHeader.value(named: name, in: header)

        // Every ';' separates two cookies and the first '=' separates name and value, whatever
        // characters stand next to them; the first cookie of the name wins.
        let expected = firstValue(named: name, in: header)
        try require(value == expected, "\(header.shown) gave \(value?.shown ?? "nil"), not \(expected?.shown ?? "nil")")
        if let value {
            try require(!value.unicodeScalars.contains(";"), "the value \(value.shown) spans a ';'")
        }

        // Our cookie sent after the header's own: the first one still wins.
        let fresh = cookie.newValue()
        let after = CookieHeader.value(named: name, in: header + "; \(name)=\(fresh)")
        try require(after == (value ?? fresh), "\(header.shown) followed by our cookie gave \(after?.shown ?? "nil")")

        // What Set-Cookie sets is what the next request's Cookie header gives back, in front of anything.
        let setCookie = cookie.header(value: fresh)
        let sent = String(setCookie.prefix { $0 != ";" })
        let before = CookieHeader.value(named: name, in: "\(sent); " + header)
        try require(before == fresh, "our cookie in front of \(header.shown) gave \(before?.shown ?? "nil")")
        try require(BrowserCookie.isWellFormed(fresh) && cookie.isOurs(fresh), "a new browser id \(fresh) is not well-formed and ours")
        // Only ids this site issued are read: anything else in the header counts as no cookie.
        try require(
            cookie.value(in: header) == value.flatMap { cookie.isOurs($0) ? $0 : nil }, "\(header.shown) gave a browser id not ours")
        let other = (fresh.first == "A" ? "B" : "A") + fresh.dropFirst()
        try require(!cookie.isOurs(other), "\(other) is taken as ours")

        // A value the page accepts as a browser id goes back into Set-Cookie: it must be a plain cookie value.
        for candidate in candidates(in: header) where BrowserCookie.isWellFormed(candidate) || cookie.isOurs(candidate) {
            try require(
                candidate.utf8.count == 32 && candidate.unicodeScalars.allSatisfy(isCookieOctet),
                "\(candidate.shown) is taken as a browser id but is not a plain cookie value")
        }
    }

    /// The header read by its scalars: pairs at ';', name and value at the first '=', both trimmed,
    /// a pair with an empty value skipped, one pair of surrounding double quotes dropped.
    static func firstValue(named name: String, in header: String) -> String? {
        for pair in header.unicodeScalars.split(separator: ";") {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let rawValue = pair[pair.index(after: equals)...]
            guard !rawValue.isEmpty else { continue }
            guard String(pair[..<equals]).trimmingCharacters(in: .whitespaces) == name else { continue }
            let value = String(rawValue).trimmingCharacters(in: .whitespaces)
            let scalars = value.unicodeScalars
            if scalars.count >= 2, scalars.first == "\"", scalars.last == "\"" {
                return String(scalars.dropFirst().dropLast())
            }
            return value
        }
        return nil
    }

    /// Every value in the header, and every run of 32 scalars within them.
    static func candidates(in header: String) -> [String] {
        header.unicodeScalars.split(separator: ";").flatMap { pair -> [String] in
            guard let equals = pair.firstIndex(of: "=") else { return [] }
            let value = Array(pair[pair.index(after: equals)...])
            var found = [String(String.UnicodeScalarView(value)).trimmingCharacters(in: .whitespaces)]
            if value.count >= 32 {
                found.append(String(String.UnicodeScalarView(value[0..<32])))
            }
            return found
        }
    }

    /// RFC 6265 cookie-octet: no control, space, double quote, comma, semicolon or backslash.
    static func isCookieOctet(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x21, 0x23...0x2B, 0x2D...0x3A, 0x3C...0x5B, 0x5D...0x7E: true
        default: false
        }
    }
}
