import ArgumentParser
import Foundation
import InstagramEmulator

@main
struct InstagramEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instagram-emulator",
        abstract: "A local stand-in for Instagram's OAuth and Graph endpoints, over HTTP (or HTTPS) on loopback.",
        discussion: """
            Point INSTAGRAM_OAUTH_BASE_URL, INSTAGRAM_API_BASE_URL and INSTAGRAM_GRAPH_BASE_URL at it. \
            It checks what Instagram checks (app id and secret, the exact redirect URI, one-time codes \
            that expire) and answers with Instagram's bodies in both API profiles' shapes.

            Control endpoints, for tests and benchmarks (one per line):
            POST /_emulator/fault?mode=M[&delay_ms=N][&path=P] (M: none, slow, error, hang, reset, garbage, redirect, trickle)
            POST /_emulator/token-shape?shape=data|flat
            POST /_emulator/expire-codes
            POST /_emulator/age-tokens?seconds=N
            POST /_emulator/media[?count=N][&page_size=N][&error=CODE|none] (the posts /me/media pages through; CODE: 4, 17, 32, 613, 190)
            GET /_emulator/stats
            POST /_emulator/deauthorize?user_id=ID[&url=U][&secret=S][&padded=1] (Meta's deauthorize callback, signed)
            POST /_emulator/delete-data?user_id=ID[&url=U][&secret=S][&padded=1] (Meta's data deletion callback, signed)
            """)

    @Option(help: "Address to listen on; port 0 picks a free port. Loopback only.")
    var listen = "127.0.0.1:8810"

    @Option(help: "The app id the emulator knows.")
    var appID = "1234567890123456"

    @Option(help: "The app secret the emulator knows.")
    var appSecret = "emulator-app-secret"

    @Option(help: "A registered redirect URI (repeat for more); matched exactly.")
    var redirectURI: [String] = ["http://127.0.0.1:8080/instagram/"]

    @Option(help: "The connected account's user id.")
    var userID = "17841405793187218"

    @Option(help: "The connected account's username.")
    var username = "emulated.creator"

    @Option(help: ArgumentHelp("Where Meta's deauthorize callback goes (default: deauthorize beside the first redirect URI).", valueName: "url"))
    var deauthorizeURL: String?

    @Option(help: ArgumentHelp("Where Meta's data deletion callback goes (default: data-deletion beside the first redirect URI).", valueName: "url"))
    var dataDeletionURL: String?

    @Option(help: "Seconds an authorization code stays valid.")
    var codeLifetime = 3600

    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate (chain, leaf first); needs --tls-key.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let host = String(listen[..<colon])
        guard host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]" else {
            throw ValidationError("--listen must be a loopback address: the emulator is for local use only")
        }
        let emulator = Emulator(
            app: .init(id: appID, secret: appSecret, redirectURIs: redirectURI),
            user: .init(id: userID, username: username),
            codeLifetime: TimeInterval(codeLifetime),
            callbackURLs: Self.callbackURLs(beside: redirectURI.first ?? "", deauthorize: deauthorizeURL, dataDeletion: dataDeletionURL))
        let tls = tlsCert.flatMap { cert in tlsKey.map { EmulatorServer.TLSFiles(certificateFile: cert, privateKeyFile: $0) } }
        let server = try await EmulatorServer(
            emulator: emulator, host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port, tls: tls)
        FileHandle.standardOutput.write(Data("instagram-emulator listening on \(server.scheme)://\(host):\(server.port)\n".utf8))
        try await server.waitUntilClosed()
    }

    static func callbackURLs(beside redirectURI: String, deauthorize: String?, dataDeletion: String?) -> Emulator.CallbackURLs {
        let beside = Emulator.CallbackURLs(besideRedirectURI: redirectURI)
        return Emulator.CallbackURLs(deauthorize: deauthorize ?? beside.deauthorize, dataDeletion: dataDeletion ?? beside.dataDeletion)
    }
}
