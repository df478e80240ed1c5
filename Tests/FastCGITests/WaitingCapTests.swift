import Foundation
import Testing

@testable import FastCGI
import TestSupport

/// `?wait` waits a second as a page that waits on Instagram does; anything else is answered at once.
struct SlowOrImmediateResponder: Responder {
    func answer(to request: Request) -> Answer {
        guard request.query == "wait" else { return .ready(Response(status: 200, body: Array("now".utf8))) }
        return .waiting {
            try? await Task.sleep(for: .seconds(1))
            return Response(status: 200, body: Array("waited".utf8))
        }
    }
}

@Suite("Requests that wait never take every place", .serialized)
struct WaitingCapTests {
    @Test func beyondMaxWaitingA503AtOnceAndPagesThatNeedNoWaitingStillAnswer() async throws {
        let running = try RunningServer(options: .init(workers: 2, maxInFlight: 8, maxWaiting: 3), responder: SlowOrImmediateResponder())
        let began = Date()
        let replies = try await concurrently(
            (0..<6).map { _ in { try running.get("wait") } } + [{ Thread.sleep(forTimeInterval: 0.3); return try running.get("") }])
        #expect(try await running.stopOffPool())
        let waited = replies.prefix(6).filter { $0.reply?.status == 200 }
        let refused = replies.prefix(6).filter { $0.reply?.status == 503 }
        #expect(waited.count == 3 && refused.count == 3, "\(replies.map { $0.reply?.status ?? -1 })")
        #expect(refused.allSatisfy { $0.finished.timeIntervalSince(began) < 0.9 }, "refused at once, not after waiting")
        #expect(refused.first?.reply?.headers["retry-after"] == "5")
        let immediate = try #require(replies.last)
        #expect(immediate.reply?.status == 200 && immediate.reply?.body == "now")
        #expect(immediate.finished.timeIntervalSince(began) < 0.9, "answered while three requests still waited")
        #expect(running.server.counts.busy == 3)
    }
}
