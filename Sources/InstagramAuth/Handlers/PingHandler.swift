import FastCGI

/// `ping`: `pong`, on the thread that read the request, with no I/O; for a load balancer's or a monitor's
/// liveness check, as PHP-FPM's `ping.path`.
enum PingHandler {
    static let pong = Response.plain(200, "pong\n")

    static func respond(_ request: ParsedRequest, _ context: HandlerContext) -> Response { pong }
}
