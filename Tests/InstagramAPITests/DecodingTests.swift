import Testing

@testable import InstagramAPI

@Suite("Decoding Instagram's answers")
struct DecodingTests {
    func grant(_ status: Int, _ body: String) throws(InstagramError) -> TokenGrant {
        try ResponseDecoder.tokenGrant(status: status, body: Array(body.utf8))
    }

    func error(_ status: Int, _ body: String) -> InstagramError? {
        do {
            _ = try grant(status, body)
            return nil
        } catch {
            return error
        }
    }

    @Test func flatBasicDisplayBodyKeepsALargeNumericUserIDExact() throws {
        let decoded = try grant(200, #"{"access_token":"IGQVJ","user_id":17841405793187218}"#)
        #expect(decoded == TokenGrant(accessToken: "IGQVJ", userID: "17841405793187218"))
    }

    @Test func dataWrappedBodyWithStringIDAndPermissionString() throws {
        let decoded = try grant(
            200, #"{"data":[{"access_token":"IGAA1","user_id":"9007199254740993","permissions":"instagram_business_basic,instagram_business_manage_comments"}]}"#)
        #expect(decoded.userID == "9007199254740993")
        #expect(decoded.permissions == ["instagram_business_basic", "instagram_business_manage_comments"])
    }

    @Test func flatBodyWithPermissionArray() throws {
        let decoded = try grant(200, #"{"access_token":"IGAA2","user_id":12,"permissions":["instagram_business_basic"]}"#)
        #expect(decoded == TokenGrant(accessToken: "IGAA2", userID: "12", permissions: ["instagram_business_basic"]))
    }

    @Test func errorTypeBody() {
        let body = #"{"error_type":"OAuthException","code":400,"error_message":"This authorization code has been used"}"#
        #expect(error(400, body) == .rejected(.init(status: 400, type: "OAuthException", code: 400, message: "This authorization code has been used")))
    }

    @Test func graphErrorBody() {
        let body = #"{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"Ab"}}"#
        guard case .rejected(let rejection)? = error(400, body) else {
            Issue.record("not a rejection")
            return
        }
        #expect(rejection.code == 190)
        #expect(rejection.subcode == 463)
        #expect(rejection.isInvalidToken)
        #expect(rejection.message == "Error validating access token")
    }

    @Test func graphErrorInA200IsStillAnError() {
        #expect(error(200, #"{"error":{"message":"Invalid scope","type":"OAuthException","code":100}}"#)
            == .rejected(.init(status: 200, type: "OAuthException", code: 100, message: "Invalid scope")))
    }

    @Test func oauthStyleErrorBody() {
        #expect(error(400, #"{"error":"invalid_request","error_description":"Missing code"}"#)
            == .rejected(.init(status: 400, type: "invalid_request", message: "Missing code")))
    }

    @Test func nonJSONAndIncompleteBodiesAreUnexpected() {
        #expect(error(200, "<html>oops</html>") == .unexpectedResponse(status: 200, detail: "a body that is not JSON"))
        #expect(error(500, "<html>Sorry</html>") == .unexpectedResponse(status: 500, detail: "a body that is not JSON"))
        #expect(error(200, #"{"user_id":1}"#) == .unexpectedResponse(status: 200, detail: "no access_token in the answer"))
        #expect(error(200, #"{"access_token":"x"}"#) == .unexpectedResponse(status: 200, detail: "no user_id in the answer"))
        #expect(error(200, #"{"data":[]}"#) == .unexpectedResponse(status: 200, detail: "an empty data list"))
        #expect(error(200, #"["access_token"]"#) == .unexpectedResponse(status: 200, detail: "a body that is not a JSON object"))
        #expect(error(200, "") == .unexpectedResponse(status: 200, detail: "a body that is not JSON"))
    }

    @Test func serverErrorsWithAnErrorBodyAreNotTheCodesFault() {
        let body = #"{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1}}"#
        #expect(error(503, body) == .unexpectedResponse(status: 503, detail: "An unknown error has occurred."))
    }
}

@Suite("Form encoding and the authorize link")
struct LinkTests {
    @Test func formEncodingRoundTrips() {
        let fields = [("redirect_uri", "https://example.com/instagram/?x=1&y=2"), ("state", "a.b-c_d~e"), ("note", "two words ü")]
        let encoded = FormEncoding.encode(fields)
        #expect(encoded == "redirect_uri=https%3A%2F%2Fexample.com%2Finstagram%2F%3Fx%3D1%26y%3D2&state=a.b-c_d~e&note=two%20words%20%C3%BC")
        #expect(FormEncoding.decode(encoded).map { "\($0.0)=\($0.1)" } == fields.map { "\($0.0)=\($0.1)" })
    }

    @Test func decodingIsForgiving() {
        let decoded = FormEncoding.decode("a=1+2&b=%ZZ&c&=x&d=%e2%82%AC&&e=%")
        #expect(decoded.map { "\($0.0)=\($0.1)" } == ["a=1 2", "b=%ZZ", "c=", "=x", "d=€", "e=%"])
    }

    @Test func separatorsJoinedIntoACharacterStillSeparate() {
        // A combining mark after '&' or '=', or a prepended sign (U+0600) before '&', makes one character with it.
        let decoded = FormEncoding.decode("a=1&\u{301}b=2&c=\u{301}3&d=\u{600}&code=x")
        #expect(decoded.map { "\($0.0)=\($0.1)" } == ["a=1", "\u{301}b=2", "c=\u{301}3", "d=\u{600}", "code=x"])
    }

    let credentials = AppCredentials(appID: "123", appSecret: "s", redirectURI: "https://example.com/instagram/")

    @Test func instagramLoginLink() {
        let link = AuthorizeLink(
            profile: .instagramLogin, credentials: credentials, endpoints: .defaults(for: .instagramLogin),
            scopes: ["instagram_business_basic"], state: "st")
        #expect(link.url == "https://www.instagram.com/oauth/authorize?client_id=123&redirect_uri=https%3A%2F%2Fexample.com%2Finstagram%2F&scope=instagram_business_basic&response_type=code&enable_fb_login=0&state=st")
    }

    @Test func basicDisplayLinkUsesTheLegacyParameterNames() {
        let link = AuthorizeLink(
            profile: .basicDisplay, credentials: credentials, endpoints: .defaults(for: .basicDisplay),
            scopes: APIProfile.basicDisplay.defaultScopes, state: "st")
        #expect(link.url == "https://api.instagram.com/oauth/authorize?app_id=123&redirect_uri=https%3A%2F%2Fexample.com%2Finstagram%2F&scope=user_profile%2Cuser_media&response_type=code&state=st")
    }

    @Test(arguments: [APIProfile.instagramLogin, .basicDisplay])
    func aLinkMadeFromItsPartWithoutStateIsTheWholeLink(profile: APIProfile) {
        let endpoints = Endpoints.defaults(for: profile)
        let base = AuthorizeLink.withoutState(profile: profile, credentials: credentials, endpoints: endpoints, scopes: ["a", "b c"])
        for state in ["st", "v1.1.a-b_c.d.e", "&=?# ü"] {
            let whole = AuthorizeLink(profile: profile, credentials: credentials, endpoints: endpoints, scopes: ["a", "b c"], state: state)
            #expect(AuthorizeLink(withoutState: base, state: state) == whole)
            #expect(whole.url.hasSuffix("&state=" + FormEncoding.percentEncode(state)))
        }
    }
}
