import Foundation
import InstagramEmulator
import Testing

@testable import InstagramAPI

/// The real client and transport against the real emulator on a loopback port.
@Suite("InstagramClient over HTTP", .serialized)
struct ClientTests {
    static let redirect = "http://127.0.0.1:9/instagram/"

    func start() async throws -> (EmulatorServer, Emulator) {
        let emulator = Emulator(
            app: .init(id: "111", secret: "app-secret", redirectURIs: [Self.redirect, "http://127.0.0.1:9/other/"]),
            user: .init(id: "17841405793187218", username: "tester"))
        let server = try await EmulatorServer(emulator: emulator, host: "127.0.0.1", port: 0)
        return (server, emulator)
    }

    func client(_ profile: APIProfile, port: Int, secret: String = "app-secret", timeout: Int = 2) -> (InstagramClient, AsyncHTTPTransport) {
        let base = "http://127.0.0.1:\(port)"
        let transport = AsyncHTTPTransport(timeoutSeconds: timeout)
        let client = InstagramClient(
            profile: profile, credentials: AppCredentials(appID: "111", appSecret: secret, redirectURI: Self.redirect),
            endpoints: Endpoints(oauthBaseURL: base, apiBaseURL: base, graphBaseURL: base), transport: transport)
        return (client, transport)
    }

    @Test func instagramLoginExchangeSendsClientFields() async throws {
        let (server, emulator) = try await start()
        let (client, transport) = client(.instagramLogin, port: server.port)
        let code = emulator.issueCode(redirectURI: Self.redirect, scopes: ["instagram_business_basic"])
        let grant = try await client.exchange(code: code)
        #expect(grant.userID == "17841405793187218")
        #expect(grant.accessToken.hasPrefix("IGAA"))
        #expect(grant.permissions == ["instagram_business_basic"])
        let form = try #require(emulator.lastForm(of: "/oauth/access_token"))
        #expect(Set(form.keys) == ["client_id", "client_secret", "grant_type", "redirect_uri", "code"])
        #expect(form["grant_type"] == "authorization_code")
        #expect(form["redirect_uri"] == Self.redirect)
        await transport.shutdown()
        try await server.close()
    }

    @Test func basicDisplayExchangeSendsExactlyTheLegacyFields() async throws {
        let (server, emulator) = try await start()
        let (client, transport) = client(.basicDisplay, port: server.port)
        let code = emulator.issueCode(redirectURI: Self.redirect, scopes: ["user_profile", "user_media"])
        let grant = try await client.exchange(code: code)
        #expect(grant.userID == "17841405793187218")
        let form = try #require(emulator.lastForm(of: "/oauth/access_token"))
        #expect(Set(form.keys) == ["app_id", "app_secret", "grant_type", "redirect_uri", "code"])
        #expect(form["app_id"] == "111")
        await transport.shutdown()
        try await server.close()
    }

    @Test func reusedWrongAndMismatchedCodesAreRejections() async throws {
        let (server, emulator) = try await start()
        let (client, transport) = client(.instagramLogin, port: server.port)
        let code = emulator.issueCode(redirectURI: Self.redirect, scopes: ["instagram_business_basic"])
        _ = try await client.exchange(code: code)
        await #expect(throws: InstagramError.rejected(.init(status: 400, type: "OAuthException", code: 400, message: "This authorization code has been used"))) {
            try await client.exchange(code: code)
        }
        await #expect(throws: InstagramError.rejected(.init(status: 400, type: "OAuthException", code: 400, message: "Invalid authorization code"))) {
            try await client.exchange(code: "nonsense")
        }
        let other = emulator.issueCode(redirectURI: "http://127.0.0.1:9/other/", scopes: ["instagram_business_basic"])
        do {
            _ = try await client.exchange(code: other)
            Issue.record("a code issued for another redirect URI was accepted")
        } catch {
            guard case .rejected(let rejection) = error else { throw error }
            #expect(rejection.message.contains("redirect_uri is identical"))
        }
        let (wrongSecret, second) = self.client(.instagramLogin, port: server.port, secret: "nope")
        await #expect(throws: InstagramError.rejected(.init(status: 400, type: "OAuthException", code: 400, message: "Error validating client secret."))) {
            try await wrongSecret.exchange(code: emulator.issueCode(redirectURI: Self.redirect, scopes: ["instagram_business_basic"]))
        }
        await transport.shutdown()
        await second.shutdown()
        try await server.close()
    }

    @Test func faultsBecomeClearErrors() async throws {
        let (server, emulator) = try await start()
        let (client, transport) = client(.instagramLogin, port: server.port, timeout: 1)
        let code = { emulator.issueCode(redirectURI: Self.redirect, scopes: ["instagram_business_basic"]) }

        emulator.setFault(.error)
        await #expect(throws: InstagramError.unexpectedResponse(status: 500, detail: "a body that is not JSON")) {
            try await client.exchange(code: code())
        }
        emulator.setFault(.garbage)
        await #expect(throws: InstagramError.unexpectedResponse(status: 200, detail: "a body that is not JSON")) {
            try await client.exchange(code: code())
        }
        emulator.setFault(.hang)
        let started = Date()
        await #expect(throws: InstagramError.timedOut(seconds: 1)) { try await client.exchange(code: code()) }
        #expect(Date().timeIntervalSince(started) < 5)
        emulator.setFault(.reset)
        do {
            _ = try await client.exchange(code: code())
            Issue.record("a reset connection gave a token")
        } catch {
            guard case .unreachable = error else {
                Issue.record("reset gave \(error)")
                return
            }
        }
        emulator.setFault(.redirect)
        await #expect(throws: InstagramError.unexpectedResponse(status: 307, detail: "a redirect to another address, which is not followed")) {
            try await client.exchange(code: code())
        }
        await #expect(throws: InstagramError.unexpectedResponse(status: 302, detail: "a redirect to another address, which is not followed")) {
            try await client.profile(accessToken: "IGAAanything")
        }
        #expect(emulator.count(of: "/oauth/access_token") == 5 && emulator.count(of: "/me") == 1, "no redirect was followed")
        emulator.setFault(.slow, delayMilliseconds: 200)
        #expect(try await client.exchange(code: code()).userID == "17841405793187218")
        await transport.shutdown()
        try await server.close()
    }

    /// Certificates that do not verify are `FaultMatrixTests`, against the emulator serving HTTPS.
    @Test func refusedConnectionsAreUnreachableAndTLSToAPlainServerFails() async throws {
        let (server, _) = try await start()
        let port = server.port
        try await server.close()
        let (closed, transport) = client(.instagramLogin, port: port)
        do {
            _ = try await closed.exchange(code: "x")
            Issue.record("a closed port gave a token")
        } catch {
            guard case .unreachable = error else { throw error }
        }

        // https to a server that speaks plain HTTP: the TLS handshake fails and nothing is sent in clear.
        let (plain, plainEmulator) = try await start()
        let tls = InstagramClient(
            profile: .instagramLogin,
            credentials: AppCredentials(appID: "111", appSecret: "app-secret", redirectURI: Self.redirect),
            endpoints: Endpoints(oauthBaseURL: "https://127.0.0.1:\(plain.port)", apiBaseURL: "https://127.0.0.1:\(plain.port)", graphBaseURL: "https://127.0.0.1:\(plain.port)"),
            transport: transport)
        do {
            _ = try await tls.exchange(code: "x")
            Issue.record("TLS to a plain server succeeded")
        } catch {
            #expect(error == .tlsFailed("the TLS handshake failed"))
        }
        #expect(plainEmulator.count(of: "/oauth/access_token") == 0, "nothing was sent in clear")
        await transport.shutdown()
        try await plain.close()
    }
}
