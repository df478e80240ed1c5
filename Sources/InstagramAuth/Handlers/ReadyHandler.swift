import Accounts
import FastCGI

/// `ready`: 200 when the store takes a write lock within `timeLimit` seconds, 503 otherwise; for a load balancer,
/// which should send visitors elsewhere while this responder cannot connect anyone. The reason is shown to those
/// who may read the status page, and logged when readiness changes.
enum ReadyHandler {
    static let timeLimit = 2.0

    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let problem = await problem(backends)
        let wasReady = backends.monitoring.ready.exchange(problem == nil, ordering: .relaxed)
        if let problem, wasReady {
            context.logger.warning("not ready: \(problem)")
        } else if problem == nil, !wasReady {
            context.logger.notice("ready again: the store answers")
        }
        guard let problem else { return Response.plain(200, "ready\n") }
        var response = Response.plain(
            503, context.configuration.monitoring.mayReadStatus(from: request.request.remoteAddress) ? "not ready: \(problem)\n" : "not ready\n")
        response.headers.append(("Retry-After", "5"))
        return response
    }

    /// Why the store cannot be used now; nil when it can. One check runs at a time: a store that hangs is not
    /// asked again until it answers, however often the load balancer asks.
    static func problem(_ backends: Backends) async -> String? {
        let monitoring = backends.monitoring
        guard !monitoring.checkingStore.exchange(true, ordering: .acquiring) else {
            return "the store has not answered the previous check yet"
        }
        let store = backends.store
        let outcome = await withinTimeLimit(seconds: timeLimit) { () -> String? in
            defer { monitoring.checkingStore.store(false, ordering: .releasing) }
            do {
                try await store.checkWritable()
                return nil
            } catch {
                return "the store refused a write: \(error)"
            }
        }
        return outcome ?? "the store did not answer within \(Int(timeLimit)) s"
    }
}
