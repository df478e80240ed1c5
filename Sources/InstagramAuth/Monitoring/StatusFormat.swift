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

    /// One of the server's figures, by the name all three formats use.
    struct Figure {
        enum Kind { case counter, gauge }
        let name: String
        let value: Int
        let kind: Kind
        /// OpenMetrics' `# HELP`.
        let help: String
    }

    /// The server's counters and gauges; none in CGI mode.
    static func serverFigures(_ report: StatusReport) -> [Figure] {
        guard let server = report.server else { return [] }
        let counters = server.counters
        return [
            Figure(name: "connections_accepted", value: counters.accepted, kind: .counter, help: "FastCGI connections accepted"),
            Figure(name: "connections_reused", value: counters.reused, kind: .counter, help: "connections kept for another request (fastcgi_keep_conn)"),
            Figure(name: "requests_answered", value: counters.answered, kind: .counter, help: "requests answered"),
            Figure(name: "requests_timed_out", value: counters.timedOut, kind: .counter, help: "connections closed for not sending a whole request in time"),
            Figure(name: "requests_malformed", value: counters.malformed, kind: .counter, help: "connections closed for a malformed FastCGI request"),
            Figure(name: "requests_too_large", value: counters.tooLarge, kind: .counter, help: "connections closed for params over the limit"),
            Figure(
                name: "requests_refused_busy", value: counters.busy, kind: .counter,
                help: "requests refused with a 503: too many waiting on the store or Instagram"),
            Figure(name: "requests_active", value: server.active, kind: .gauge, help: "requests being answered now"),
            Figure(name: "requests_max_active", value: server.maxActive, kind: .gauge, help: "the most requests answered at once since the start"),
            Figure(name: "requests_waiting", value: server.waiting, kind: .gauge, help: "requests waiting on the store or Instagram now"),
            Figure(name: "requests_queued", value: server.queued, kind: .gauge, help: "complete requests waiting for a worker or a place"),
            Figure(name: "connections_open", value: server.connections, kind: .gauge, help: "connections held now"),
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
