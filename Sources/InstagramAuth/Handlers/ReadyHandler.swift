import FastCGI

/// `ready`: 200 when the store takes a write within `timeLimit` seconds (`StoreCheck`), 503 otherwise; for a load
/// balancer, which should send visitors elsewhere while this responder cannot connect anyone. The reason is shown to
/// those who may read the status page, and logged when readiness changes.
enum ReadyHandler {
    static let timeLimit = 2.0

    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        let problem = await backends.monitoring.storeCheck.problem(of: backends.store, timeLimit: timeLimit)
        let wasReady = backends.monitoring.lastReadiness.exchange(problem == nil, ordering: .relaxed)
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
}
