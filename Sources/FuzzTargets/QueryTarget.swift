import InstagramAPI

/// The query string as the page reads it (`FormEncoding.decode`, which the router uses for `code`,
/// `state`, `result` and `error`), and the encoding that builds the authorize link.
enum QueryTarget {
    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let query = input.text
        let pairs = FormEncoding.decode(query)

        // Every '&' separates two pairs and the first '=' of a pair separates name and value,
        // whatever characters stand next to them (a combining mark, a prepended sign).
        let segments = query.unicodeScalars.split(separator: "&")
        try require(
            pairs.count == segments.count,
            "\(pairs.count) pairs from \(segments.count) '&'-separated parts of \(query.shown)")
        for (pair, segment) in zip(pairs, segments) {
            let equals = segment.firstIndex(of: "=")
            let name = FormEncoding.unescape(Substring(String(segment[..<(equals ?? segment.endIndex)])))
            let value = equals.map { FormEncoding.unescape(Substring(String(segment[segment.index(after: $0)...]))) } ?? ""
            try require(
                pair.0 == name && pair.1 == value,
                "part \(String(segment).shown) decoded as \(pair.0.shown)=\(pair.1.shown), not \(name.shown)=\(value.shown)")
        }

        // Encoding decoded pairs and decoding them again gives the same pairs.
        let encoded = FormEncoding.encode(pairs)
        let again = FormEncoding.decode(encoded)
        try require(
            again.count == pairs.count && zip(again, pairs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 },
            "\(query.shown) decoded, encoded as \(encoded.shown), decodes differently")

        // percentEncode leaves only unreserved characters and %XX; unescape undoes it exactly.
        let escaped = FormEncoding.percentEncode(query)
        try require(escaped.utf8.allSatisfy(isEncodedByte), "percentEncode left a reserved byte in \(escaped.shown)")
        let unescaped = FormEncoding.unescape(Substring(escaped))
        try require(
            Array(unescaped.utf8) == Array(query.utf8), "unescape(percentEncode(\(query.shown))) is \(unescaped.shown)")

        // Text without '%' or '+' has nothing to unescape.
        if !query.utf8.contains(UInt8(ascii: "%")), !query.utf8.contains(UInt8(ascii: "+")) {
            let same = FormEncoding.unescape(Substring(query))
            try require(Array(same.utf8) == Array(query.utf8), "unescape changed \(query.shown) into \(same.shown)")
        }
    }

    static func isEncodedByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"):
            true
        default: false
        }
    }
}
