import FastCGI

/// FastCGI params as libfcgi hands them over (`NAME=value` strings), turned into the page's `Request`.
///
/// Input: one `NAME=value` string per line; after the first empty line, the request body.
enum ParamsTarget {
    static let maxBodyBytes = 64 * 1024

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let (head, body) = input.splitOnce(Array("\n\n".utf8))
        let strings = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Array($0).text }
        let params = FastCGIServer.params(strings)

        // Each string splits at its first '=', whatever characters follow it; a later name wins.
        var expected: [String: String] = [:]
        for string in strings {
            guard let equals = string.unicodeScalars.firstIndex(of: "=") else { continue }
            expected[String(string.unicodeScalars[..<equals])] = String(string.unicodeScalars[string.unicodeScalars.index(after: equals)...])
        }
        try require(
            equalBytes(params, expected),
            "params \(strings.map(\.shown)) read as \(describe(params)), not \(describe(expected))")

        switch FastCGIServer.bodyLength(declaredIn: params, maxBodyBytes: maxBodyBytes) {
        case .success(let length):
            try require((0...maxBodyBytes).contains(length), "a body of \(length) bytes accepted")
        case .failure(let failure):
            try require([400, 413].contains(failure.response.status), "a refused length answered \(failure.response.status)")
            if failure.response.status == 400 {
                try require(params["CONTENT_LENGTH"] != nil, "400 without a CONTENT_LENGTH")
            }
        }

        let request = Request(params: params, body: body ?? [])
        let method = params["REQUEST_METHOD"]
        try require(
            (request.method == "GET") == (method == nil || method!.lowercased() == "get"), "method \(request.method.shown) from \(method?.shown ?? "nil")")
        try require(!request.method.unicodeScalars.contains { ("a"..."z").contains($0) }, "method \(request.method.shown) not upper-case")
        try require(request.query == params["QUERY_STRING"] ?? "", "query \(request.query.shown)")
        try require(request.remoteAddress == params["REMOTE_ADDR"] ?? "", "remote address \(request.remoteAddress.shown)")
        try require(request.body == body ?? [], "the body changed")

        // Headers: lower-case names with dashes, each from an HTTP_ param (or CONTENT_TYPE).
        var spellings: [String: [String]] = [:]
        for name in params.keys where name.hasPrefix("HTTP_") {
            spellings[String(name.dropFirst(5)).lowercased().replacingOccurrences(of: "_", with: "-"), default: []].append(name)
        }
        for (header, value) in request.headers {
            try require(header == header.lowercased() && !header.contains("_"), "header name \(header.shown)")
            if header == "content-type", let type = params["CONTENT_TYPE"], !type.isEmpty {
                try require(value == type, "content-type \(value.shown), not \(type.shown)")
                continue
            }
            try require(
                spellings[header]?.contains { params[$0] == value } == true, "header \(header.shown): \(value.shown) from no param")
        }
        for (header, names) in spellings where names.count == 1 && !(header == "content-type" && params["CONTENT_TYPE"]?.isEmpty == false) {
            try require(request.headers[header] == params[names[0]], "\(names[0].shown) not passed as header \(header.shown)")
        }

        // The same params, however the dictionary happens to order them, make the same request.
        var reordered: [String: String] = [:]
        reordered.reserveCapacity(params.count * 3 + 7)
        for (name, value) in params.reversed() { reordered[name] = value }
        let again = Request(params: reordered, body: body ?? [])
        try require(
            again == request,
            "the same params in another order give headers \(again.headers), not \(request.headers)")
    }

    static func equalBytes(_ a: [String: String], _ b: [String: String]) -> Bool {
        a.count == b.count && a.allSatisfy { b[$0.key].map { Array($0.utf8) } == Array($0.value.utf8) }
    }

    static func describe(_ params: [String: String]) -> String {
        params.sorted { $0.key < $1.key }.map { "\($0.key.shown)=\($0.value.shown)" }.joined(separator: ", ")
    }
}
