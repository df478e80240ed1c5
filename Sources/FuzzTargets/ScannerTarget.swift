import FastCGI

/// The event thread's `RequestScanner` on whatever a client sends to the FastCGI socket.
///
/// Input: raw bytes as they would arrive. Beyond any input: a request made from the input's bytes
/// by a real encoder is recognised whole, and none of its prefixes is.
enum ScannerTarget {
    static let limits = RequestScanner.Limits(maxHeadBytes: 4096, maxBodyBytes: 2048, maxRecords: 16)
    static let scanner = RequestScanner(limits: limits)

    static func scan(_ bytes: ArraySlice<UInt8>) -> RequestScanner.Outcome {
        bytes.withUnsafeBytes { scanner.scan($0) }
    }

    static func run(_ input: [UInt8]) throws(InvariantViolation) {
        let outcome = scan(input[...])
        try check(outcome, count: input.count, "input")

        // A decision (ready, too large, malformed) depends only on the bytes it was made from:
        // more bytes after them change nothing but `trailing`.
        for cut in [input.count / 3, input.count / 2, input.count - 1] where cut > 0 && cut < input.count {
            let early = scan(input[..<cut])
            switch (early, outcome) {
            case (.tooLarge, .tooLarge), (.malformed, .malformed): break
            case (.ready(var before), .ready(var after)):
                before.trailing = false
                after.trailing = false
                try require(before == after, "prefix of \(cut) ready as \(before), the whole as \(after)")
            case (.tooLarge, _), (.malformed, _), (.ready, _):
                throw InvariantViolation("prefix of \(cut) bytes decided \(early), the whole input \(outcome)")
            default: break
            }
        }

        // A well-formed request built from the input: params from its bytes, the body its tail.
        let half = min(input.count / 2, 600)
        let value = String(decoding: input.prefix(half), as: UTF8.self)
        let body = Array(input.dropFirst(half).prefix(limits.maxBodyBytes))
        let id = UInt16(input.first ?? 1) | 1
        let keep = (input.last ?? 0) & 1 == 1
        let request = RecordEncoder.request(
            params: ["REQUEST_METHOD": "POST", "HTTP_X": value, "CONTENT_LENGTH": String(body.count)], body: body,
            keepConnection: keep, id: id)
        guard case .ready(let ready) = scan(request[...]) else {
            throw InvariantViolation("a well-formed request of \(request.count) bytes read as \(scan(request[...]))")
        }
        try require(
            ready == RequestScanner.Ready(requestID: id, keepConnection: keep, stdinBytes: body.count, stdinComplete: true, trailing: false),
            "a well-formed request read as \(ready)")
        for cut in Set([0, 7, 8, 15, 16, request.count / 2, request.count - 8, request.count - 1]) where cut >= 0 && cut < request.count {
            switch scan(request[..<cut]) {
            case .needMore(let atLeast), .partial(let atLeast, _):
                try require(atLeast > cut && atLeast <= request.count, "prefix of \(cut) bytes asks for \(atLeast)")
            case let other:
                throw InvariantViolation("a prefix of \(cut) of \(request.count) bytes of a well-formed request read as \(other)")
            }
        }
    }

    static func check(_ outcome: RequestScanner.Outcome, count: Int, _ what: String) throws(InvariantViolation) {
        switch outcome {
        case .needMore(let atLeast):
            try require(atLeast > count && atLeast <= count + 8 + 65_535 + 255, "\(what): needMore(\(atLeast)) with \(count) bytes")
        case .partial(let atLeast, let ready):
            try require(atLeast > count, "\(what): partial(\(atLeast)) with \(count) bytes")
            try require(!ready.stdinComplete && !ready.trailing, "\(what): partial \(ready)")
            try require(ready.stdinBytes <= limits.maxBodyBytes, "\(what): \(ready.stdinBytes) body bytes")
        case .ready(let ready):
            try require(ready.stdinBytes <= limits.maxBodyBytes, "\(what): \(ready.stdinBytes) body bytes")
            try require(ready.requestID != 0, "\(what): request id 0")
        case .tooLarge, .malformed:
            break
        }
    }
}
