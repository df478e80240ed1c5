import Foundation

/// A status report in the OpenMetrics text format: every family with its `# TYPE` and `# HELP`, counters with
/// `_total`, the call latency as a histogram, label values escaped, and `# EOF` last.
struct OpenMetricsWriter {
    private(set) var text = ""

    init(_ report: StatusReport) {
        family("process_start_time_seconds", "gauge", "when the process started, in seconds since 1970")
        sample("process_start_time_seconds", value: report.started.timeIntervalSince1970)
        family("process_cpu_seconds", "counter", "user and system CPU time of the process")
        sample("process_cpu_seconds_total", value: report.cpuSeconds)
        if let resident = report.residentBytes {
            family("process_resident_memory_bytes", "gauge", "resident memory of the process")
            sample("process_resident_memory_bytes", value: Double(resident))
        }
        for figure in StatusFormat.serverFigures(report) {
            let name = "instagram_auth_" + figure.name
            family(name, figure.kind == .counter ? "counter" : "gauge", figure.help)
            sample(figure.kind == .counter ? name + "_total" : name, value: Double(figure.value))
        }
        family("instagram_auth_requests_slow", "counter", "requests slower than INSTAGRAM_AUTH_SLOW_REQUEST")
        sample("instagram_auth_requests_slow_total", value: Double(report.slowRequests))
        calls(report)
        accounts(report)
        text += "# EOF\n"
    }

    private mutating func calls(_ report: StatusReport) {
        guard !report.calls.isEmpty else { return }
        family("instagram_auth_instagram_calls", "counter", "calls to Instagram by call and outcome")
        for (key, tally) in report.calls {
            sample("instagram_auth_instagram_calls_total", ["call": key.call.rawValue, "outcome": key.outcome.rawValue], value: Double(tally.count))
        }
        family("instagram_auth_instagram_call_seconds", "histogram", "how long calls to Instagram took, by call")
        var byCall: [(String, InstagramCalls.Tally)] = []
        for (key, tally) in report.calls {
            if let index = byCall.firstIndex(where: { $0.0 == key.call.rawValue }) {
                byCall[index].1.add(tally)
            } else {
                byCall.append((key.call.rawValue, tally))
            }
        }
        for (call, tally) in byCall {
            var cumulative = 0
            for (index, bound) in InstagramCalls.bucketBounds.enumerated() {
                cumulative += tally.buckets[index]
                sample("instagram_auth_instagram_call_seconds_bucket", ["call": call, "le": Self.number(bound)], value: Double(cumulative))
            }
            sample("instagram_auth_instagram_call_seconds_bucket", ["call": call, "le": "+Inf"], value: Double(tally.count))
            sample("instagram_auth_instagram_call_seconds_count", ["call": call], value: Double(tally.count))
            sample("instagram_auth_instagram_call_seconds_sum", ["call": call], value: tally.seconds)
        }
    }

    private mutating func accounts(_ report: StatusReport) {
        family("instagram_auth_accounts_readable", "gauge", "1 when the store answered with the accounts, 0 when it did not")
        sample("instagram_auth_accounts_readable", value: report.storeProblem == nil ? 1 : 0)
        guard !report.accounts.isEmpty else { return }
        func labels(_ account: StatusReport.AccountLine) -> [String: String] {
            ["user_id": account.userID, "username": account.username ?? ""]
        }
        family("instagram_auth_account_state", "gauge", "1 for the account's state: active, needs_authorization or deauthorized")
        for account in report.accounts {
            sample("instagram_auth_account_state", labels(account).merging(["state": account.state.rawValue]) { $1 }, value: 1)
        }
        family("instagram_auth_account_token_expiry_seconds", "gauge", "when the account's token expires, in seconds since 1970")
        for account in report.accounts {
            if let expiry = account.tokenExpiresAt { sample("instagram_auth_account_token_expiry_seconds", labels(account), value: expiry.timeIntervalSince1970) }
        }
        family("instagram_auth_account_refresh_failed", "gauge", "1 when the token's last refresh failed")
        for account in report.accounts {
            sample("instagram_auth_account_refresh_failed", labels(account), value: account.lastRefreshError == nil ? 0 : 1)
        }
        family("instagram_auth_account_feed_age_seconds", "gauge", "how old the cached feed is")
        for account in report.accounts {
            if let fetched = account.feedFetchedAt {
                sample("instagram_auth_account_feed_age_seconds", labels(account), value: report.now.timeIntervalSince(fetched))
            }
        }
        family("instagram_auth_account_feed_failed", "gauge", "1 when the feed's last fetch failed (the last good copy is served)")
        for account in report.accounts {
            sample("instagram_auth_account_feed_failed", labels(account), value: account.feedFailure == nil ? 0 : 1)
        }
    }

    private mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# TYPE \(name) \(type)\n# HELP \(name) \(help)\n"
    }

    private mutating func sample(_ name: String, _ labels: [String: String] = [:], value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escaped($0.value))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.number(value) + "\n"
    }

    /// A whole number without a fraction; others as Swift writes a Double, which OpenMetrics reads (but for
    /// infinities and NaN, which it spells its own way).
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
