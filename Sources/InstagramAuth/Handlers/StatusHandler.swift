import FastCGI

/// `status`: counters, calls to Instagram, and each account's token and feed, as text (`?json` and `?openmetrics`
/// for machines; OpenMetrics too when Prometheus asks for it by `Accept`), like PHP-FPM's `pm.status_path`. Only
/// loopback and `INSTAGRAM_AUTH_STATUS_ALLOW` may read it: it names the connected accounts.
enum StatusHandler {
    static func respond(_ request: ParsedRequest, _ context: HandlerContext, _ backends: Backends) async -> Response {
        guard context.configuration.monitoring.mayReadStatus(from: request.request.remoteAddress) else {
            return Response.plain(
                403, "The status page answers loopback addresses and those INSTAGRAM_AUTH_STATUS_ALLOW lists; this one is not among them.\n")
        }
        let report = await StatusReport.read(backends)
        let format = StatusFormat(query: request.query, accept: request.request.headers["accept"])
        return Response(
            status: 200, headers: [("Content-Type", format.contentType), ("Cache-Control", "no-store")], body: Array(format.render(report).utf8))
    }
}
