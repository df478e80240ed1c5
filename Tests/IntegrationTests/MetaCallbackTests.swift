import Foundation
import Testing

/// Meta's deauthorize and data deletion callbacks, made by the emulator as Meta makes them, through nginx.
@Suite("Meta's callbacks through nginx", .serialized)
struct MetaCallbackTests {
    static let userID = "17841405793187218"

    /// What the emulator relays: the callback's HTTP status, its answer, and the signed_request it sent.
    struct Relayed: Decodable {
        var status: Int
        var body: String
        var signed_request: String
    }

    func callMeta(_ stack: Stack, _ call: String, _ query: String = "") async throws -> Relayed {
        let reply = try await stack.request(
            "http://127.0.0.1:\(stack.emulatorPort)/_emulator/\(call)?user_id=\(Self.userID)\(query)", method: .POST, form: [])
        #expect(reply.status == 200, "\(reply.body)")
        return try JSONDecoder().decode(Relayed.self, from: Data(reply.body.utf8))
    }

    func json(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }

    @Test func deauthorizingDiscardsTheTokenUntilTheOwnerConnectsAgain() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            let relayed = try await callMeta(stack, "deauthorize")
            #expect(relayed.status == 200)
            #expect(json(relayed.body)["status"] == "deauthorized")

            let listed = try await stack.command(["accounts", "--json"])
            let items = try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]]
            #expect(items?.first?["status"] as? String == "deauthorized")
            let token = try await stack.command(["token"])
            #expect(token.status != 0 && token.err.contains("removed this site's access on Instagram"))
            #expect(token.out.isEmpty)
            let refresh = try await stack.command(["refresh"])
            #expect(refresh.out.contains("NEEDS A NEW AUTHORIZATION"))

            _ = try await AccountFlowTests().connect(stack)
            #expect(try await stack.command(["token"]).out.hasPrefix("IGAA"), "a new authorization restores the account")
        }
    }

    @Test func aDeletionRequestRemovesEverythingAndItsStatusPageSaysSo() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            let relayed = try await callMeta(stack, "delete-data", "&padded=1")
            #expect(relayed.status == 200)
            let answer = json(relayed.body)
            let code = try #require(answer["confirmation_code"])
            #expect(answer["url"] == "http://127.0.0.1:\(stack.port)/instagram/deletion?code=\(code)")
            #expect(try await stack.command(["accounts"]).out.contains("No account is connected"))

            let status = try await stack.request(try #require(answer["url"]))
            #expect(status.status == 200)
            #expect(status.body.contains(code) && status.body.contains("deleted"))
            #expect(!status.body.contains(Self.userID) && !status.body.contains("emulated.creator"), "the page names no account")

            // Meta sending the same request again: harmless, and the same code.
            let again = try await stack.request(
                "http://127.0.0.1:\(stack.port)/instagram/data-deletion", method: .POST, form: [("signed_request", relayed.signed_request)])
            #expect(again.status == 200)
            #expect(json(again.body)["confirmation_code"] == code)
            #expect(again.headers.first(name: "Content-Type") == "application/json")

            let unknown = try await stack.request("http://127.0.0.1:\(stack.port)/instagram/deletion?code=ZZZZZZZZZZZZZZZZ")
            #expect(unknown.status == 404)
            let hostile = try await stack.request("http://127.0.0.1:\(stack.port)/instagram/deletion?code=%27%20OR%201=1--")
            #expect(hostile.status == 404)
        }
    }

    @Test func aForgedOrMalformedCallbackChangesNothing() async throws {
        try await withStack(.init(settings: ["INSTAGRAM_AUTH_META_APP_SECRET": "meta-app-secret-for-callbacks"])) { stack in
            _ = try await AccountFlowTests().connect(stack)
            let forged = try await callMeta(stack, "delete-data", "&secret=not-the-secret")
            #expect(forged.status == 400)
            #expect(json(forged.body)["error"] == "invalid_signed_request")
            let noneAlgorithm = try await callMeta(stack, "deauthorize", "&algorithm=none")
            #expect(noneAlgorithm.status == 400)
            let forms: [[(String, String)]] = [
                [("signed_request", "")], [("signed_request", "abc")], [("other", "1")],
                [("signed_request", String(repeating: "A", count: 5000))],
            ]
            for form in forms {
                let reply = try await stack.request("http://127.0.0.1:\(stack.port)/instagram/data-deletion", method: .POST, form: form)
                #expect(reply.status == 400, "\(form.first?.1.prefix(30) ?? "")")
                #expect(json(reply.body)["error"] == "invalid_signed_request")
            }
            let get = try await stack.request("http://127.0.0.1:\(stack.port)/instagram/deauthorize")
            #expect(get.status == 405 && get.headers.first(name: "Allow") == "POST")
            #expect(try await stack.command(["token"]).out.hasPrefix("IGAA"), "nothing changed")

            // The Meta app's secret signs as well as the Instagram app's.
            let byMeta = try await callMeta(stack, "deauthorize", "&secret=meta-app-secret-for-callbacks")
            #expect(byMeta.status == 200)
            let log = stack.responderLog
            #expect(log.components(separatedBy: "Meta callback refused").count - 1 == 6, "each refusal logged once")
        }
    }

    @Test func forgetRemovesAnAccountAsADeletionRequestDoes() async throws {
        try await withStack { stack in
            _ = try await AccountFlowTests().connect(stack)
            let forget = try await stack.command(["forget", "@emulated.creator"])
            #expect(forget.status == 0, "\(forget.err)")
            #expect(forget.out.contains("the account, its token and its cached posts"))
            let code = try #require(forget.out.components(separatedBy: "confirmation code ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(try await stack.command(["accounts"]).out.contains("No account is connected"))
            let status = try await stack.request("http://127.0.0.1:\(stack.port)/instagram/deletion?code=\(code)")
            #expect(status.status == 200 && status.body.contains(code))
            let nobody = try await stack.command(["forget", "nobody"])
            #expect(nobody.status != 0 && nobody.err.contains("no connected account nobody"))
        }
    }
}
