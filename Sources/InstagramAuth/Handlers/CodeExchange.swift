import Accounts
import FastCGI
import Foundation
import InstagramAPI
import Logging

extension CallbackHandler {
    /// One code, claimed once in the store and exchanged by the request that claimed it; a second request with
    /// the same code (a reload, a double click, another host) waits for the first one's result.
    struct Exchange {
        let code: String
        let stateNonce: String
        let browserTag: String
        /// The visitor's address, as the web server gives it: what `CallbackLimit` counts.
        let client: String
        let context: HandlerContext
        let backends: Backends
        private var store: any AccountStore { backends.store }
        private var logger: Logger { context.logger }
        /// What the store keeps of the code; computed once, used by every call to the store.
        private let codeHash: String

        init(code: String, stateNonce: String, browserTag: String, client: String, context: HandlerContext, backends: Backends) {
            self.client = client
            self.code = code
            self.stateNonce = stateNonce
            self.codeHash = CallbackHandler.codeHash(code)
            self.browserTag = browserTag
            self.context = context
            self.backends = backends
        }

        /// Over `CallbackLimit`: a 429, and nothing sent to Instagram.
        private func tooMany(_ wait: Int) -> Response {
            logger.warning("token requests over the limit; code not sent", metadata: ["client": "\(client)", "retry_after": "\(wait)"])
            var response = context.page(for: .tooManyRequests(retryAfter: wait))
            response.headers.append(("Retry-After", "\(wait)"))
            return response
        }

        func run() async -> Response {
            let timeout = context.configuration.httpTimeoutSeconds
            let deadline = Date() + TimeInterval(timeout * 3 + 5)
            // The longest an exchange can hold its claim: three calls to Instagram and the store's calls around them.
            let abandonedAfter = TimeInterval(timeout * 3 + 30)
            var claimed = false
            if let wait = context.callbackLimit.wait(address: client, browser: browserTag) { return tooMany(wait) }
            do {
                while true {
                    switch try await store.claimCallback(codeHash: codeHash, stateNonce: stateNonce, browserTag: browserTag, now: Date()) {
                    case .stateUsed:
                        logger.notice("a second code with a used state refused", metadata: ["code": "\(Redact.short(code))"])
                        return context.page(for: .stateUsed)
                    case .claimed(let ticket):
                        if let wait = context.callbackLimit.admit(address: client, browser: browserTag) {
                            try await store.releaseCallback(codeHash: codeHash, ticket: ticket)
                            return tooMany(wait)
                        }
                        claimed = true
                        return try await exchange(ticket: ticket)
                    case .existing(let record):
                        guard record.browserTag == browserTag else {
                            return context.page(for: .state(.otherBrowser, lifetimeSeconds: context.signer.lifetimeSeconds))
                        }
                        if record.outcome != nil {
                            logger.info("code seen before; showing its result", metadata: ["code": "\(Redact.short(code))"])
                            return CallbackHandler.seeResult(record.ticket, context)
                        }
                        // Claimed longer ago than any exchange takes: the request that claimed it is gone (its host
                        // stopped, or the database failed it mid-way). Take it over rather than wait for nothing.
                        if Date().timeIntervalSince(record.createdAt) > abandonedAfter {
                            logger.notice("taking over an abandoned claim on a code", metadata: ["code": "\(Redact.short(code))"])
                            try await store.releaseCallback(codeHash: codeHash, ticket: record.ticket)
                            continue
                        }
                        // The same code is being exchanged by another request: wait for its result rather than
                        // spend the code twice.
                        guard Date() < deadline else {
                            return context.page(
                                for: PageError(
                                    503, "Still connecting", "The authorization is still being completed. Reload this page in a moment."))
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
            } catch let error as StoreError {
                logger.error("account store failed", metadata: ["error": "\(error)"])
                // Leave no claim behind that would keep a retry waiting.
                if claimed { try? await store.releaseCallback(codeHash: codeHash) }
                return context.page(
                    for: PageError(
                        503, "The connection could not be saved",
                        "This site could not record the authorization: its account database is not available right now.",
                        hint: claimed
                            ? "Please start again in a few minutes."
                            : "Nothing was sent to Instagram yet. Reload this page in a minute to finish connecting, or start again."))
            } catch {
                return context.page(for: PageError(500, "Interrupted", "The request was interrupted."))
            }
        }

        /// Exchanges the code this request owns, stores the account, and records the outcome under `ticket`.
        private func exchange(ticket: String) async throws(StoreError) -> Response {
            logger.info("exchanging code", metadata: ["code": "\(Redact.short(code))"])
            let client = backends.client
            let grant: TokenGrant
            do {
                grant = try await client.exchange(code: code)
            } catch {
                logger.warning("code exchange failed", metadata: ["error": "\(error)", "code": "\(Redact.short(code))"])
                if case .rejected(let rejection) = error {
                    return try await finish(ticket: ticket, outcome: .codeRefused(message: rejection.message))
                }
                // Instagram never answered: the code may still be good, so a retry may use it.
                try await store.releaseCallback(codeHash: codeHash)
                var page = PageError.instagram(error, while: "exchanging the authorization code")
                page.hint = "Nothing was stored. Reloading this page tries the same authorization again; if that fails, start again."
                return context.page(for: page)
            }

            // The long-lived exchange and the profile lookup both take the new token: ask for them at once, so the
            // visitor waits for one round trip to Instagram instead of two.
            async let longLived = attempt { () async throws(InstagramError) in try await client.exchangeForLongLived(grant.accessToken) }
            async let lookup = attempt { () async throws(InstagramError) in try await client.profile(accessToken: grant.accessToken) }
            var token = grant.accessToken
            var isLongLived = false
            var expiresIn = 3600
            switch await longLived {
            case .success(let long):
                (token, isLongLived, expiresIn) = (long.accessToken, true, long.expiresInSeconds)
            case .failure(let error):
                logger.warning("long-lived exchange failed; keeping the short-lived token", metadata: ["error": "\(error)"])
            }
            let profile: InstagramProfile
            switch await lookup {
            case .success(let found):
                profile = found
            case .failure(let error):
                // The code is spent, so a retry cannot reuse it; and an account whose name is unknown can be neither
                // checked against the allowed list nor found by it later. Store nothing, and say to start again.
                logger.warning("profile lookup failed; nothing stored", metadata: ["error": "\(error)"])
                return try await finish(ticket: ticket, outcome: .lookupFailed(failure: InstagramFailure(error)))
            }

            let name = "@\(profile.username) (\(grant.userID))"
            guard context.configuration.allows(userID: grant.userID, username: profile.username) else {
                logger.notice("account not on the allowed list; not stored", metadata: ["user_id": "\(grant.userID)"])
                return try await finish(ticket: ticket, outcome: .notAllowed(userID: grant.userID, username: profile.username))
            }
            let now = Date()
            let account = Account(
                userID: grant.userID, username: profile.username, accountType: profile.accountType, accessToken: token,
                isLongLived: isLongLived, tokenObtainedAt: now, tokenExpiresAt: now + TimeInterval(expiresIn),
                permissions: grant.permissions, connectedAt: now)
            let response = try await finish(ticket: ticket, outcome: .connected(userID: grant.userID), saving: account)
            // The site's feed starts filling at once, off this request's path (unless a fresh copy is kept: the
            // account connected again).
            backends.feeds.startIfStale(userID: grant.userID)
            backends.hook.run(.connected, userID: grant.userID, username: profile.username)
            logger.info(
                "account connected",
                metadata: ["account": "\(name)", "long_lived": "\(isLongLived)", "token": "\(Redact.short(token))"])
            return response
        }

        private func attempt<T>(_ body: () async throws(InstagramError) -> T) async -> Result<T, InstagramError> {
            do { return .success(try await body()) } catch { return .failure(error) }
        }

        private func finish(ticket: String, outcome: CallbackOutcome, saving account: Account? = nil) async throws(StoreError) -> Response {
            try await store.completeCallback(codeHash: codeHash, outcome: outcome, saving: account, now: Date())
            return CallbackHandler.seeResult(ticket, context)
        }
    }
}
