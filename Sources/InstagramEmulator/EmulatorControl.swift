import Foundation

/// The `/_emulator/…` endpoints the tests and the benchmark steer the emulator with: faults, codes, token ages, counts.
extension Emulator {
    func faultAction(for path: String, method: String, query: [String: String]) -> Action? {
        let (fault, only, delay) = lock.withLock { (self.fault, faultPath, faultDelayMilliseconds) }
        if let only, only != path { return nil }
        switch fault {
        case .none: return nil
        case .slow: return nil
        case .redirect:
            var target = query
            target[Self.redirectedMarker] = "1"
            let encoded = target.sorted { $0.key < $1.key }.map { "\(Self.percent($0.key))=\(Self.percent($0.value))" }
            let location = "\(path)?\(encoded.joined(separator: "&"))"
            return .respond(
                status: method == "POST" ? 307 : 302, headers: ["Location": location, "Content-Type": "text/html"],
                body: "<html><body>Moved to <a href=\"\(Self.escape(location))\">another address</a>.</body></html>")
        case .trickle:
            return .trickle(intervalMilliseconds: delay > 0 ? delay : 250)
        case .error:
            return .respond(status: 500, headers: Self.html, body: "<html><body>Sorry, something went wrong.</body></html>")
        case .hang: return .hang
        case .reset: return .reset
        case .garbage:
            return .respond(status: 200, headers: ["Content-Type": "text/html"], body: "<html>\u{1}\u{2}not json {\"access_token\":")
        }
    }

    /// The delay a `slow` fault adds to the API answer for `path`, if any.
    public func delay(for rawPath: String) -> Int? {
        let path = Self.normalise(rawPath)
        guard Self.apiPaths.contains(path) else { return nil }
        return lock.withLock {
            guard fault == .slow, faultPath == nil || faultPath == path else { return nil }
            return faultDelayMilliseconds
        }
    }

    public func setFault(_ fault: Fault, delayMilliseconds: Int = 0, path: String? = nil) {
        lock.withLock {
            self.fault = fault
            self.faultDelayMilliseconds = delayMilliseconds
            self.faultPath = path
        }
    }

    func setFault(_ values: [String: String]) -> Action {
        guard let fault = Fault(rawValue: values["mode"] ?? "") else {
            return json(400, #"{"error":"mode must be one of \#(Fault.allCases.map(\.rawValue).joined(separator: ", "))"}"#)
        }
        setFault(fault, delayMilliseconds: Int(values["delay_ms"] ?? "") ?? 1000, path: values["path"].map(Self.normalise))
        return json(200, #"{"mode":"\#(fault.rawValue)"}"#)
    }

    /// Issues `count` codes (at most 100,000) as if a visitor had clicked Allow each time, for load
    /// generators that skip the dialog: `{"codes":[...]}`.
    func issueCodes(_ values: [String: String]) -> Action {
        let redirectURI = values["redirect_uri"] ?? ""
        guard app.redirectURIs.contains(redirectURI) else { return json(400, #"{"error":"unknown redirect_uri"}"#) }
        guard let count = Int(values["count"] ?? "1"), (1...100_000).contains(count) else {
            return json(400, #"{"error":"count must be from 1 to 100000"}"#)
        }
        let scopes = (values["scope"] ?? "").split(separator: ",").map(String.init)
        if let bad = scopes.first(where: { !Self.knownScopes.contains($0) }) ?? (scopes.isEmpty ? "(none)" : nil) {
            return json(400, #"{"error":"invalid scope: \#(Self.jsonEscape(bad))"}"#)
        }
        let codes = (0..<count).map { _ in issueCode(redirectURI: redirectURI, scopes: scopes) }
        let list = codes.map { "\"\($0)\"" }.joined(separator: ",")
        return json(200, #"{"codes":[\#(list)]}"#)
    }

    func expireCodes() -> Action {
        lock.withLock {
            for key in codes.keys { codes[key]?.issuedAt = .distantPast }
        }
        return json(200, #"{"expired":true}"#)
    }

    /// Makes every token look `seconds` older, as if time had passed.
    func ageTokens(_ values: [String: String]) -> Action {
        let seconds = TimeInterval(Int(values["seconds"] ?? "") ?? 86_400)
        lock.withLock {
            for (key, token) in tokens {
                tokens[key] = IssuedToken(
                    userID: token.userID, longLived: token.longLived,
                    issuedAt: token.issuedAt - seconds, expiresAt: token.expiresAt - seconds)
            }
        }
        return json(200, #"{"aged":\#(Int(seconds))}"#)
    }

    func setTokenShape(_ values: [String: String]) -> Action {
        let flat = values["shape"] == "flat"
        lock.withLock { flatLoginTokens = flat }
        return json(200, #"{"shape":"\#(flat ? "flat" : "data")"}"#)
    }

    /// Requests seen per path, so tests can tell that no token request was made.
    public func count(of path: String) -> Int { lock.withLock { counts[Self.normalise(path)] ?? 0 } }

    /// The form fields of the last POST to `path`, so tests can check what a client sent.
    public func lastForm(of path: String) -> [String: String]? { lock.withLock { lastForms[Self.normalise(path)] } }

    func stats() -> Action {
        let snapshot = lock.withLock { counts }
        let members = snapshot.sorted { $0.key < $1.key }.map { "\"\(Self.jsonEscape($0.key))\":\($0.value)" }
        return json(200, "{\(members.joined(separator: ","))}")
    }
}
