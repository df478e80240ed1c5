import Testing

@testable import InstagramAuth

/// Meta's `signed_request`, against vectors signed by others: the Facebook SDKs' published test vectors and
/// Python's hmac module, never by this code.
@Suite("Meta's signed_request")
struct SignedRequestTests {
    /// The Facebook SDK's vector (secret `foo_app_secret`), base64 padding kept as it was signed.
    static let padded =
        "U0_O1MqqNKUt32633zAkdd2Ce-jGVgRgJeRauyx_zC8=.eyJvYXV0aF90b2tlbiI6ImZvb190b2tlbiIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjozMjEsImNvZGUiOiJmb29fY29kZSIsInN0YXRlIjoiZm9vX3N0YXRlIiwidXNlcl9pZCI6MTIzLCJmb28iOiJiYXIifQ=="
    /// The same payload signed without padding.
    static let unpadded =
        "zIQqQWqAE39gWywPFfiC-GFdx9a4mebabEFcqNSRKIQ.eyJvYXV0aF90b2tlbiI6ImZvb190b2tlbiIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjozMjEsImNvZGUiOiJmb29fY29kZSIsInN0YXRlIjoiZm9vX3N0YXRlIiwidXNlcl9pZCI6MTIzLCJmb28iOiJiYXIifQ"

    @Test(arguments: [padded, unpadded]) func aValidRequestGivesItsUserWithOrWithoutPadding(_ text: String) throws {
        let request = try SignedRequest.verify(text, secrets: ["foo_app_secret"])
        #expect(request.userID == "123")
        #expect(request.issuedAt == 321)
        #expect(text.hasSuffix(request.encodedPayload))
    }

    @Test func eitherConfiguredSecretMaySign() throws {
        let byMeta = "iMbdIDyIfq88MKWLXs-pCsNHIglI-6KzcJYPcxto5hs.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsImlzc3VlZF9hdCI6MTcwMDAwMDAwMCwidXNlcl9pZCI6IjE3ODQxNDA1NzkzMTg3MjE4In0"
        #expect(try SignedRequest.verify(byMeta, secrets: ["instagram-secret", "meta_secret"]).userID == "17841405793187218")
        #expect(throws: SignedRequest.Failure.badSignature) { try SignedRequest.verify(byMeta, secrets: ["instagram-secret", ""]) }
    }

    @Test func whatIsRefusedAndWhy() {
        let refused: [(String, SignedRequest.Failure)] = [
            ("", .missing),
            (Self.padded, .badSignature),  // checked with another secret below
            ("no-dot-here", .malformed),
            ("a.b.c", .malformed),
            (".eyJ9", .malformed),
            ("abc$.eyJ9", .badBase64),
            ("abc.ey J9", .badBase64),
            ("abc.=eyJ9", .badBase64),
            (String(repeating: "a", count: 5000) + ".eyJ9", .tooLong(5005)),
            // Signed correctly, but the algorithm is `none`: never trusted.
            ("LNYythXakry2ca4aMnbFTazPwh9qK0cqXVSIj9T4RYo.eyJhbGdvcml0aG0iOiJub25lIiwiaXNzdWVkX2F0IjozMjEsInVzZXJfaWQiOiIxMjMifQ", .wrongAlgorithm("none")),
            // Signed correctly, but the payload is an array.
            ("6Qla4rhGYHRhET5dGgYiBbMhRVXITAIkUIIpDspIphY.WzEsMiwzXQ", .notAnObject),
            // The Perl SDK's vector (secret `secret`): valid, but it names no user.
            ("vlXgu64BQGFSQrY0ZcJBZASMvYvTHu9GQ0YM9rjPSso.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsIjAiOiJwYXlsb2FkIn0", .noUserID),
        ]
        for (text, failure) in refused {
            let secret = failure == .noUserID ? "secret" : (failure == .badSignature ? "another_secret" : "foo_app_secret")
            #expect(throws: failure, "\(text.prefix(40))") { try SignedRequest.verify(text, secrets: [secret]) }
        }
    }

    @Test func aTamperedPayloadOrSignatureIsRefused() {
        let parts = Self.unpadded.split(separator: ".")
        let otherUser = "eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsInVzZXJfaWQiOiI5OTkifQ"  // {"algorithm":"HMAC-SHA256","user_id":"999"}
        #expect(throws: SignedRequest.Failure.badSignature) { try SignedRequest.verify("\(parts[0]).\(otherUser)", secrets: ["foo_app_secret"]) }
        var signature = Array(parts[0])
        signature[0] = signature[0] == "A" ? "B" : "A"
        #expect(throws: SignedRequest.Failure.badSignature) {
            try SignedRequest.verify("\(String(signature)).\(parts[1])", secrets: ["foo_app_secret"])
        }
    }
}
