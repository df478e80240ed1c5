/// Reads the FastCGI record framing of a connection's first bytes — without consuming them —
/// to tell whether a whole request has arrived. libfcgi then reads a request only once it is
/// all there, so no thread ever waits on a slow, idle or half-sent connection.
///
/// A request is accepted in the order every web server sends it: management records
/// (request id 0) may come first; then `FCGI_BEGIN_REQUEST`; `FCGI_PARAMS` records ending with an
/// empty one; then `FCGI_STDIN` records ending with an empty one.
package struct RequestScanner: Sendable {
    package struct Limits: Sendable, Equatable {
        /// Bytes up to and including the empty `FCGI_PARAMS` record.
        package var maxHeadBytes: Int
        /// `FCGI_STDIN` content looked at; a body beyond it is refused by length, not read.
        package var maxBodyBytes: Int
        /// Records before the request is complete.
        package var maxRecords: Int

        package init(maxHeadBytes: Int = 128 * 1024, maxBodyBytes: Int = 64 * 1024, maxRecords: Int = 64) {
            self.maxHeadBytes = maxHeadBytes
            self.maxBodyBytes = maxBodyBytes
            self.maxRecords = maxRecords
        }

        /// The most bytes a scan needs to see.
        package var window: Int { maxHeadBytes + maxBodyBytes + maxRecords * (8 + 255) }
    }

    /// What the bytes so far amount to.
    package enum Outcome: Sendable, Equatable {
        /// Nothing can be decided before the connection holds `atLeast` bytes.
        case needMore(atLeast: Int)
        /// Params are complete but the body is not (yet): wait for `atLeast` bytes, or go on
        /// with what is there when waiting longer is not worth it.
        case partial(atLeast: Int, Ready)
        /// Params are complete. `stdinBytes` of body content are there; `stdinComplete` when its
        /// closing empty record is too; `trailing` when more bytes follow the request.
        case ready(Ready)
        /// The params exceed `maxHeadBytes`.
        case tooLarge
        /// Not a FastCGI request in the expected order; the reason is for the log.
        case malformed(String)
    }

    package struct Ready: Sendable, Equatable {
        package var requestID: UInt16
        package var keepConnection: Bool
        package var stdinBytes: Int
        package var stdinComplete: Bool
        package var trailing: Bool
        /// Management records came first: libfcgi writes its replies to them while it reads the request.
        package var managementFirst: Bool

        package init(
            requestID: UInt16, keepConnection: Bool, stdinBytes: Int, stdinComplete: Bool, trailing: Bool, managementFirst: Bool = false
        ) {
            self.requestID = requestID
            self.keepConnection = keepConnection
            self.stdinBytes = stdinBytes
            self.stdinComplete = stdinComplete
            self.trailing = trailing
            self.managementFirst = managementFirst
        }
    }

    static let version: UInt8 = 1
    static let beginRequest: UInt8 = 1
    static let abortRequest: UInt8 = 2
    static let params: UInt8 = 4
    static let stdin: UInt8 = 5

    package let limits: Limits

    package init(limits: Limits = Limits()) {
        self.limits = limits
    }

    package func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var offset = 0
        var records = 0
        var requestID: UInt16?
        var keepConnection = false
        var headEnd: Int?
        var stdinBytes = 0
        var managementFirst = false

        func partial() -> Ready {
            Ready(
                requestID: requestID ?? 0, keepConnection: keepConnection, stdinBytes: stdinBytes,
                stdinComplete: false, trailing: false, managementFirst: managementFirst)
        }

        while true {
            guard bytes.count >= offset + 8 else {
                // Params complete and the body still coming: report what is there so far.
                return headEnd == nil ? .needMore(atLeast: offset + 8) : .partial(atLeast: offset + 8, partial())
            }
            guard bytes[offset] == Self.version else { return .malformed("FastCGI version \(bytes[offset])") }
            let type = bytes[offset + 1]
            let id = UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3])
            let contentLength = Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
            let end = offset + 8 + contentLength + Int(bytes[offset + 6])
            records += 1

            if headEnd == nil {
                guard end <= limits.maxHeadBytes else { return .tooLarge }
                guard records <= limits.maxRecords else { return .malformed("more than \(limits.maxRecords) records before the params end") }
            } else if records > limits.maxRecords || stdinBytes + contentLength > limits.maxBodyBytes {
                // Enough to refuse the body by its length; hand the request over as it is.
                return .ready(partial())
            }
            guard bytes.count >= end else {
                return headEnd == nil ? .needMore(atLeast: end) : .partial(atLeast: end, partial())
            }

            if id == 0 {
                // A management record (FCGI_GET_VALUES): libfcgi answers it while reading.
                guard headEnd == nil else { return .malformed("management record inside a request") }
                managementFirst = true
            } else if let current = requestID {
                guard id == current else { return .malformed("record for request \(id) inside request \(current)") }
                switch type {
                case Self.params where headEnd == nil:
                    if contentLength == 0 { headEnd = end }
                case Self.stdin where headEnd != nil:
                    if contentLength == 0 {
                        return .ready(
                            Ready(
                                requestID: current, keepConnection: keepConnection, stdinBytes: stdinBytes,
                                stdinComplete: true, trailing: bytes.count > end, managementFirst: managementFirst))
                    }
                    stdinBytes += contentLength
                case Self.abortRequest:
                    return .malformed("request aborted by the client")
                default:
                    return .malformed("record type \(type) out of order")
                }
            } else {
                guard type == Self.beginRequest, contentLength >= 8 else {
                    return .malformed("record type \(type) before FCGI_BEGIN_REQUEST")
                }
                requestID = id
                keepConnection = bytes[offset + 8 + 2] & 1 != 0
            }
            offset = end
        }
    }
}
