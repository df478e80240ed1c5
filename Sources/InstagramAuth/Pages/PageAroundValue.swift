import Accounts
import FastCGI

/// A page that differs from one request to the next by one value only (the authorize page by its `state`):
/// rendered once with a marker in that value's place, then made for each request by putting its value where the
/// marker was. Only for values that every escaping keeps as they are — letters, digits, `-`, `_` and `.`, as a
/// state is written — so the page is byte for byte the one rendering it would give; any other value is rendered.
struct PageAroundValue: Sendable {
    private let render: @Sendable (String) -> Response
    private let status: Int
    private let headers: [(name: String, value: String)]
    /// The rendered page split at each marker; nil when putting a value in the marker's place does not give the page
    /// rendering gives (a template that changes the value, with a Mustache transform such as `uppercased`).
    private let parts: [[UInt8]]?

    init(_ render: @escaping @Sendable (String) -> Response) {
        self.render = render
        // Random, so that no template can hold it as text.
        let marker = "m" + Base64URL.encode(RandomBytes.make(24))
        let page = render(marker)
        status = page.status
        headers = page.headers
        let parts = Self.split(page.body, at: Array(marker.utf8))
        // Checked with another value: the page made from the parts must be the page rendered.
        let check = "c" + Base64URL.encode(RandomBytes.make(24))
        let rendered = render(check)
        let made = Self.join(parts, with: check)
        self.parts = Response(status: status, headers: headers, body: made) == rendered ? parts : nil
    }

    /// The page for `value`, with `extraHeaders` after the page's own.
    func response(for value: String, extraHeaders: [(name: String, value: String)] = []) -> Response {
        guard let parts, value.utf8.allSatisfy(Self.keptByEveryEscaping) else {
            var page = render(value)
            page.headers += extraHeaders
            return page
        }
        return Response(status: status, headers: headers + extraHeaders, body: Self.join(parts, with: value))
    }

    private static func join(_ parts: [[UInt8]], with value: String) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(parts.reduce(0) { $0 + $1.count } + (parts.count - 1) * value.utf8.count)
        for (index, part) in parts.enumerated() {
            if index > 0 { body += value.utf8 }
            body += part
        }
        return body
    }

    private static func keptByEveryEscaping(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    private static func split(_ bytes: [UInt8], at marker: [UInt8]) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0
        var index = 0
        while index + marker.count <= bytes.count {
            if bytes[index] == marker[0] && bytes[index..<index + marker.count].elementsEqual(marker) {
                parts.append(Array(bytes[start..<index]))
                index += marker.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(Array(bytes[start...]))
        return parts
    }
}
