import Foundation

/// How the status page writes a report: for people, for scripts, for Prometheus.
enum StatusFormat {
    case text
    case json
    /// The OpenMetrics text format (Prometheus reads it), ending in `# EOF`.
    case openMetrics

    /// `?json` or `?openmetrics`; else OpenMetrics for a scraper that asks for it (Prometheus does), text for others.
    init(query: Query, accept: String?) {
        if query["openmetrics"] != nil {
            self = .openMetrics
        } else if query["json"] != nil {
            self = .json
        } else if accept?.contains("application/openmetrics-text") == true {
            self = .openMetrics
        } else {
            self = .text
        }
    }

    var contentType: String {
        switch self {
        case .text: "text/plain; charset=utf-8"
        case .json: "application/json"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    func render(_ report: StatusReport) -> String {
        switch self {
        case .text: Self.text(report)
        case .json: Self.json(report)
        case .openMetrics: OpenMetricsWriter(report).text
        }
    }

    /// The server's counters and gauges by the names all three formats use.
    static func serverFigures(_ report: StatusReport) -> [(name: String, value: Int, isCounter: Bool, help: String)] {
        guard let server = report.server else { return [] }
        let counters = server.counters
        return [
            ("connections_accepted", counters.accepted, true, "FastCGI connections accepted"),
            ("connections_reused", counters.reused, true, "connections kept for another request (fastcgi_keep_conn)"),
            ("requests_answered", counters.answered, true, "requests answered"),
            ("requests_timed_out", counters.timedOut, true, "connections closed for not sending a whole request in time"),
            ("requests_malformed", counters.malformed, true, "connections closed for a malformed FastCGI request"),
            ("requests_too_large", counters.tooLarge, true, "connections closed for params over the limit"),
            ("requests_refused_busy", counters.busy, true, "requests refused with a 503: too many waiting on the store or Instagram"),
            ("requests_active", server.active, false, "requests being answered now"),
            ("requests_max_active", server.maxActive, false, "the most requests answered at once since the start"),
            ("requests_waiting", server.waiting, false, "requests waiting on the store or Instagram now"),
            ("requests_queued", server.queued, false, "complete requests waiting for a worker or a place"),
            ("connections_open", server.connections, false, "connections held now"),
        ]
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    private static func text(_ report: StatusReport) -> String {
        var lines: [(String, String)] = [
            ("mode", report.mode),
            ("start time", timestamp(report.started)),
            ("start since", "\(Int(report.now.timeIntervalSince(report.started))) s"),
        ]
        if report.server == nil {
            lines.append(("counters", "none in CGI mode: each request is a process of its own; the web server's log counts requests"))
        }
        for figure in serverFigures(report) { lines.append((figure.name.replacingOccurrences(of: "_", with: " "), "\(figure.value)")) }
        lines.append(("requests slow", "\(report.slowRequests)"))
        for (key, tally) in report.calls {
            lines.append(
                ("instagram \(key.call.rawValue) \(key.outcome.rawValue)",
                 "\(tally.count) calls, \(Timeline.format(tally.seconds / Double(max(1, tally.count)))) s average, \(Timeline.format(tally.slowest)) s slowest"))
        }
        if let problem = report.storeProblem { lines.append(("accounts", "unreadable: \(problem)")) }
        for account in report.accounts {
            var parts = [account.state.rawValue]
            if let expiry = account.tokenExpiresAt { parts.append("token until \(timestamp(expiry))") }
            parts.append("last refresh " + (account.lastRefreshAt.map(timestamp) ?? "never") + (account.lastRefreshError.map { " (failed: \($0))" } ?? ""))
            if let fetched = account.feedFetchedAt {
                parts.append("feed \(Int(report.now.timeIntervalSince(fetched))) s old" + (account.feedFailure.map { " (last fetch failed: \($0))" } ?? ""))
            }
            lines.append(("account " + (account.username.map { "@\($0)" } ?? account.userID), parts.joined(separator: ", ")))
        }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 }.joined(separator: "\n") + "\n"
    }

    private static func json(_ report: StatusReport) -> String {
        var object: [String: Any] = [
            "mode": report.mode, "started_at": timestamp(report.started), "uptime_seconds": Int(report.now.timeIntervalSince(report.started)),
            "requests_slow": report.slowRequests, "cpu_seconds": report.cpuSeconds,
        ]
        object["resident_bytes"] = report.residentBytes
        if report.server != nil {
            object["server"] = Dictionary(uniqueKeysWithValues: serverFigures(report).map { ($0.name, $0.value) })
        }
        object["instagram_calls"] = report.calls.map { key, tally -> [String: Any] in
            ["call": key.call.rawValue, "outcome": key.outcome.rawValue, "count": tally.count, "seconds": tally.seconds, "slowest_seconds": tally.slowest]
        }
        object["accounts"] = report.accounts.map { account -> [String: Any] in
            var item: [String: Any] = ["user_id": account.userID, "state": account.state.rawValue]
            item["username"] = account.username
            item["token_expires_at"] = account.tokenExpiresAt.map(timestamp)
            item["last_refresh_at"] = account.lastRefreshAt.map(timestamp)
            item["last_refresh_error"] = account.lastRefreshError
            item["feed_updated_at"] = account.feedFetchedAt.map(timestamp)
            item["feed_age_seconds"] = account.feedFetchedAt.map { Int(report.now.timeIntervalSince($0)) }
            item["feed_error"] = account.feedFailure
            return item
        }
        object["accounts_error"] = report.storeProblem
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
