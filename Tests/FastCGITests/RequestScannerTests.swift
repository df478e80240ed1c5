import Testing

@testable import FastCGI
import TestSupport

@Suite("Telling a whole FastCGI request from a partial one")
struct RequestScannerTests {
    let scanner = RequestScanner(limits: .init(maxHeadBytes: 4096, maxBodyBytes: 1000, maxRecords: 16))

    func scan(_ bytes: [UInt8]) -> RequestScanner.Outcome {
        bytes.withUnsafeBytes { scanner.scan($0) }
    }

    func ready(_ bytes: [UInt8]) -> RequestScanner.Ready? {
        if case .ready(let ready) = scan(bytes) { return ready }
        return nil
    }

    let request = RecordEncoder.request(params: ["REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"], body: Array("hello".utf8), id: 7)

    @Test func aWholeRequestIsReadyWithItsBody() {
        let whole = ready(request)
        #expect(whole == RequestScanner.Ready(requestID: 7, keepConnection: false, stdinBytes: 5, stdinComplete: true, trailing: false))
        let kept = ready(RecordEncoder.request(params: ["A": "b"], keepConnection: true))
        #expect(kept?.keepConnection == true)
        #expect(kept?.stdinBytes == 0)
        #expect(ready(request + [1])?.trailing == true)
    }

    @Test func everyPrefixWaitsForMore() {
        // Cut anywhere before the params end: the scanner asks for more, and never for fewer bytes than it has.
        let paramsEnd = request.count - 8 - 16  // the empty PARAMS record ends where STDIN starts
        for cut in 0..<paramsEnd {
            guard case .needMore(let atLeast) = scan(Array(request.prefix(cut))) else {
                Issue.record("prefix of \(cut) bytes: \(scan(Array(request.prefix(cut))))")
                return
            }
            #expect(atLeast > cut)
        }
        // Between the params end and the body's end the request is partial, its body not all there.
        for cut in paramsEnd..<request.count {
            guard case .partial(let atLeast, let partial) = scan(Array(request.prefix(cut))) else {
                Issue.record("prefix of \(cut) bytes: \(scan(Array(request.prefix(cut))))")
                return
            }
            #expect(atLeast > cut)
            #expect(!partial.stdinComplete)
            #expect(partial.stdinBytes == (cut >= paramsEnd + 16 ? 5 : 0))
        }
    }

    @Test func managementRecordsMayComeFirst() {
        let getValues = RecordEncoder.record(type: 9, content: [], id: 0)
        #expect(ready(getValues + request)?.requestID == 7)
        // libfcgi writes its replies to them: the connection's send buffer is no longer known to be empty.
        #expect(ready(getValues + request)?.managementFirst == true)
        #expect(ready(request)?.managementFirst == false)
    }

    @Test func refusesWhatNoWebServerSends() {
        func reason(_ bytes: [UInt8]) -> String? {
            if case .malformed(let reason) = scan(bytes) { return reason }
            return nil
        }
        #expect(reason(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) != nil, "HTTP spoken to the FastCGI socket")
        #expect(reason(RecordEncoder.record(type: 4, content: [], id: 1)) != nil, "params before BEGIN_REQUEST")
        #expect(reason(RecordEncoder.record(type: 1, content: [0, 1], id: 1)) != nil, "a short BEGIN_REQUEST body")
        let begin = RecordEncoder.record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0], id: 1)
        #expect(reason(begin + RecordEncoder.record(type: 4, content: [1, 1, 65, 66], id: 2)) != nil, "another request's params")
        #expect(reason(begin + RecordEncoder.record(type: 2, content: [], id: 1)) != nil, "aborted")
        #expect(reason(begin + RecordEncoder.record(type: 5, content: [], id: 1)) != nil, "stdin before the params end")
        let paramsEnd = begin + RecordEncoder.record(type: 4, content: [], id: 1)
        #expect(reason(paramsEnd + RecordEncoder.record(type: 9, content: [], id: 0)) != nil, "management inside the body")
        let records = begin + [UInt8]((0..<20).flatMap { _ in RecordEncoder.record(type: 4, content: [1, 1, 65, 66], id: 1) })
        #expect(reason(records) != nil, "more records than the limit before the params end")
    }

    @Test func paramsBeyondTheLimitAreTooLarge() {
        let huge = RecordEncoder.request(params: ["HTTP_X": String(repeating: "x", count: 5000)])
        #expect(scan(huge) == .tooLarge)
        // Decided from the first record header, before its content arrives.
        #expect(scan(Array(huge.prefix(24))) == .tooLarge)
    }

    @Test func aBodyBeyondTheLimitIsHandedOverWithoutWaitingForIt() {
        let big = RecordEncoder.request(params: ["CONTENT_LENGTH": "5000"], body: [UInt8](repeating: 1, count: 5000))
        let cut = Array(big.prefix(200))
        guard case .ready(let ready) = scan(cut) else {
            Issue.record("\(scan(cut))")
            return
        }
        #expect(!ready.stdinComplete)
        #expect(ready.stdinBytes == 0)
    }
}
