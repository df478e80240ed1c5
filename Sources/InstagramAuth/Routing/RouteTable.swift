/// Which URL does what: the one place that says it. The first entry whose path, method and query match
/// answers; a known path asked with another method gets 405, any other path 404.
enum RouteTable {
    static let routes: [Route] = [
        // Instagram sends the visitor back with `error` when they decline; it wins over a code.
        Route(.page, queryHas: "error", .immediate(DeclinedHandler.respond)),
        Route(.page, queryHas: "code", .waiting(CallbackHandler.respond)),
        Route(.page, queryHas: "result", .waiting(ResultHandler.respond)),
        Route(.page, .immediate(AuthorizeHandler.respond)),
        // Meta's platform callbacks, and the status page a deletion's confirmation URL shows.
        Route(.file("deauthorize"), methods: ["POST"], .waiting(DeauthorizeHandler.respond)),
        Route(.file("data-deletion"), methods: ["POST"], .waiting(DataDeletionHandler.respond)),
        Route(.file("deletion"), .waiting(DeletionStatusHandler.respond)),
        // The site's own posts, from the cached copy.
        Route(.file("feed.json"), .remembered(immediate: FeedHandler.remembered, waiting: FeedHandler.respond)),
        Route(.file("feed.html"), .remembered(immediate: FeedHTMLHandler.remembered, waiting: FeedHTMLHandler.respond)),
        Route(.folder(MediaHandler.folder), .reading(immediate: MediaHandler.remembered, reading: MediaHandler.respond)),
        // For monitors and load balancers; the shipped nginx examples let only loopback reach them.
        Route(.file("ping"), .immediate(PingHandler.respond)),
        Route(.file("ready"), .waiting(ReadyHandler.respond)),
        Route(.file("status"), .waiting(StatusHandler.respond)),
    ]
}
