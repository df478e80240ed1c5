import Accounts
import Foundation
import InstagramAPI
import PostgresStore
import Testing

@testable import InstagramAuth

@Suite("Configuration")
struct ConfigurationTests {
    let minimal = [
        "INSTAGRAM_APP_ID": "123456",
        "INSTAGRAM_APP_SECRET": "secret",
        "INSTAGRAM_REDIRECT_URI": "https://example.com/instagram/",
        "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
    ]

    func refusal(_ environment: [String: String], file: String? = nil) -> ConfigurationError? {
        do {
            _ = try Configuration.load(environment: environment, configFile: file)
            return nil
        } catch {
            return error
        }
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    @Test func defaultsToInstagramLogin() throws {
        let configuration = try Configuration.load(environment: minimal)
        #expect(configuration.profile == .instagramLogin)
        #expect(configuration.scopes == ["instagram_business_basic"])
        #expect(configuration.endpoints.oauthBaseURL == "https://www.instagram.com")
        #expect(configuration.endpoints.apiBaseURL == "https://api.instagram.com")
        #expect(configuration.endpoints.graphBaseURL == "https://graph.instagram.com")
        #expect(configuration.httpTimeoutSeconds == 10)
        #expect(!configuration.showToken)
        #expect(configuration.redirectPath == "/instagram/")
        #expect(configuration.redirectIsHTTPS)
    }

    @Test func basicDisplayDefaults() throws {
        var environment = minimal
        environment["INSTAGRAM_API"] = "basic-display"
        let configuration = try Configuration.load(environment: environment)
        #expect(configuration.scopes == ["user_profile", "user_media"])
        #expect(configuration.endpoints.oauthBaseURL == "https://api.instagram.com")
    }

    @Test(arguments: ["INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET", "INSTAGRAM_REDIRECT_URI"])
    func missingRequiredKeysAreNamed(key: String) {
        var environment = minimal
        environment[key] = nil
        #expect(refusal(environment)?.key == key)
    }

    @Test(arguments: [
        ("INSTAGRAM_REDIRECT_URI", "http://example.com/instagram/"),
        ("INSTAGRAM_REDIRECT_URI", "https://example.com/instagram/?page=1"),
        ("INSTAGRAM_REDIRECT_URI", "/instagram/"),
        ("INSTAGRAM_API_BASE_URL", "http://10.0.0.5:8810"),
        ("INSTAGRAM_GRAPH_BASE_URL", "ftp://127.0.0.1"),
        ("INSTAGRAM_OAUTH_BASE_URL", "http://instagram.com.evil"),
        ("INSTAGRAM_API", "graph"),
        ("INSTAGRAM_APP_ID", "my-app"),
        ("INSTAGRAM_SCOPES", "business_basic"),
        ("INSTAGRAM_SCOPES", "user_profile"),
        ("INSTAGRAM_SCOPES", "a b"),
        ("INSTAGRAM_HTTP_TIMEOUT", "0"),
        ("INSTAGRAM_HTTP_TIMEOUT", "61"),
        ("INSTAGRAM_AUTH_SHOW_TOKEN", "maybe"),
        ("INSTAGRAM_AUTH_STATE_SECRET", "short"),
        ("INSTAGRAM_AUTH_STATE_LIFETIME", "0"),
        ("INSTAGRAM_AUTH_TEMPLATES", "/nonexistent/folder"),
        ("INSTAGRAM_AUTH_ALLOWED_USERS", " , "),
        ("INSTAGRAM_AUTH_ALLOWED_USERS", "*, shop.owner"),
        ("INSTAGRAM_AUTH_CALLBACK_LIMIT", "-1"),
        ("INSTAGRAM_AUTH_CALLBACK_LIMIT", "ten"),
        ("INSTAGRAM_AUTH_DATABASE", "accounts.sqlite3"),
    ])
    func unsafeOrInvalidValuesAreRefusedByName(key: String, value: String) {
        var environment = minimal
        environment[key] = value
        #expect(refusal(environment)?.key == key)
    }

    @Test func whoMayConnectIsAlwaysSaid() throws {
        var environment = minimal
        environment["INSTAGRAM_AUTH_ALLOWED_USERS"] = nil
        let error = try #require(refusal(environment))
        #expect(error.key == "INSTAGRAM_AUTH_ALLOWED_USERS")
        #expect(error.problem.contains("is required") && error.problem.contains("* for anyone") && error.problem.contains("configuration file"))
    }

    @Test func allowedUsersByNameOrID() throws {
        var environment = minimal
        #expect(try Configuration.load(environment: environment).allows(userID: "1", username: "anyone"), "* allows anyone")
        environment["INSTAGRAM_AUTH_ALLOWED_USERS"] = "@Shop.Owner, 1784"
        let configuration = try Configuration.load(environment: environment)
        #expect(configuration.allows(userID: "1", username: "shop.owner"))
        #expect(configuration.allows(userID: "1784", username: nil))
        #expect(!configuration.allows(userID: "1", username: "someone.else"))
        #expect(!configuration.allows(userID: "1", username: nil))
    }

    @Test func loopbackMayUsePlainHTTP() throws {
        var environment = minimal
        environment["INSTAGRAM_REDIRECT_URI"] = "http://127.0.0.1:8080/instagram/"
        environment["INSTAGRAM_API_BASE_URL"] = "http://localhost:8810/"
        environment["INSTAGRAM_GRAPH_BASE_URL"] = "http://[::1]:8810"
        let configuration = try Configuration.load(environment: environment)
        #expect(configuration.endpoints.apiBaseURL == "http://localhost:8810")
        #expect(!configuration.redirectIsHTTPS)
        // Only literal loopback: a DNS name under .localhost, or one that looks like an address, is not.
        for host in ["x.localhost", "127.0.0.1.example.com", "localhost.example.com", "128.0.0.1", "[::2]"] {
            environment["INSTAGRAM_API_BASE_URL"] = "http://\(host):8810"
            #expect(refusal(environment)?.key == "INSTAGRAM_API_BASE_URL", "\(host)")
        }
    }

    @Test func noSpellingOfADatabaseURLLeaksItsPassword() {
        let password = "Pa55-w0rd-never-shown"
        for url in [
            "POSTGRES://app:\(password)@db/accounts", "PostgreSQL://app:\(password)@db/accounts", "postgres://app:\(password)@/accounts",
            "postgres://app:\(password)@db/", "postgres:/app:\(password)@db/accounts", "postgres//app:\(password)@db/accounts",
            "mysql://app:\(password)@db/accounts", "app:\(password)@db/accounts", "https://app:\(password)@db/accounts",
        ] {
            var environment = minimal
            environment["INSTAGRAM_AUTH_DATABASE"] = url
            do {
                let configuration = try Configuration.load(environment: environment)
                guard case .postgres(let location) = configuration.database else {
                    Issue.record("\(url) read as \(configuration.database)")
                    continue
                }
                #expect(location.password == password)
                #expect(!configuration.database.description.contains(password))
            } catch {
                #expect(!url.hasPrefix("P"), "the scheme in another case is still PostgreSQL's: \(error)")
                #expect(error.key == "INSTAGRAM_AUTH_DATABASE")
                #expect(!error.description.contains(password), "\(error)")
            }
        }
    }

    @Test func fileValuesWithEnvironmentWinning() throws {
        let path = try temporaryFile("""
            # instagram-auth
            export INSTAGRAM_APP_ID=999
            INSTAGRAM_APP_SECRET="from file"
            INSTAGRAM_REDIRECT_URI = 'https://example.com/cb'

            INSTAGRAM_HTTP_TIMEOUT=5
            INSTAGRAM_AUTH_ALLOWED_USERS=*
            """)
        let configuration = try Configuration.load(environment: ["INSTAGRAM_HTTP_TIMEOUT": "7"], configFile: path)
        #expect(configuration.credentials.appID == "999")
        #expect(configuration.credentials.appSecret == "from file")
        #expect(configuration.credentials.redirectURI == "https://example.com/cb")
        #expect(configuration.httpTimeoutSeconds == 7)
        let viaEnvironment = try Configuration.load(environment: ["INSTAGRAM_AUTH_CONFIG": path])
        #expect(viaEnvironment.httpTimeoutSeconds == 5)
    }

    @Test func fileWithWindowsLineEnds() throws {
        let text = "# saved with CRLF\r\nINSTAGRAM_APP_ID=999\r\nINSTAGRAM_APP_SECRET=\"s\"\r\n\r\nINSTAGRAM_REDIRECT_URI=https://example.com/cb\r\nINSTAGRAM_AUTH_ALLOWED_USERS=*\r\n"
        #expect(try ConfigurationFile.parse(text, name: "crlf") == [
            "INSTAGRAM_APP_ID": "999", "INSTAGRAM_APP_SECRET": "s", "INSTAGRAM_REDIRECT_URI": "https://example.com/cb",
            "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
        ])
        #expect(try Configuration.load(environment: [:], configFile: temporaryFile(text)).credentials.appID == "999")
    }

    @Test func fileMarksJoinedIntoACharacterStillCount() throws {
        // A combining mark after '=', '#' or a quote makes one character with it.
        let text = "INSTAGRAM_APP_SECRET=\u{301}s\n#\u{301} comment\nINSTAGRAM_APP_ID=\"\u{301}1\"\n"
        #expect(try ConfigurationFile.parse(text, name: "marks") == ["INSTAGRAM_APP_SECRET": "\u{301}s", "INSTAGRAM_APP_ID": "\u{301}1"])
    }

    @Test func cookiePathIsTheRedirectPathAsBrowsersRequestIt() throws {
        var environment = minimal
        for (uri, path) in [
            ("https://example.com/my%20page/", "/my%20page/"), ("https://example.com/über/", "/%C3%BCber/"),
            ("https://example.com/app/insta;gram/", "/app/"), ("https://example.com", "/"),
        ] {
            environment["INSTAGRAM_REDIRECT_URI"] = uri
            #expect(try Configuration.load(environment: environment).redirectPath == path, "\(uri)")
        }
    }

    @Test func fileWithATypoOrABadLineIsRefused() throws {
        let typo = try temporaryFile("INSTAGRAM_APP_SECERT=x\n")
        #expect(refusal(minimal, file: typo)?.key == "INSTAGRAM_APP_SECERT")
        let bad = try temporaryFile("INSTAGRAM_APP_ID\n")
        #expect(refusal(minimal, file: bad)?.description.contains("line 1") == true)
        #expect(refusal(minimal, file: "/nonexistent/config")?.key == "INSTAGRAM_AUTH_CONFIG")
    }

    @Test func secretsFromFiles() throws {
        let secretFile = try temporaryFile("s3cr3t\n")
        var environment = minimal
        environment["INSTAGRAM_APP_SECRET"] = nil
        environment["INSTAGRAM_APP_SECRET_FILE"] = secretFile
        #expect(try Configuration.load(environment: environment).credentials.appSecret == "s3cr3t")

        environment["INSTAGRAM_APP_SECRET"] = "direct"
        #expect(refusal(environment)?.key == "INSTAGRAM_APP_SECRET")

        environment["INSTAGRAM_APP_SECRET"] = nil
        environment["INSTAGRAM_APP_SECRET_FILE"] = "/nonexistent/secret"
        #expect(refusal(environment)?.key == "INSTAGRAM_APP_SECRET_FILE")
    }

    @Test func aSecretOthersMayReadIsRefused() throws {
        let secretFile = try temporaryFile("s3cr3t\n")
        var environment = minimal
        environment["INSTAGRAM_APP_SECRET"] = nil
        environment["INSTAGRAM_APP_SECRET_FILE"] = secretFile
        for mode: mode_t in [0o644, 0o604, 0o660, 0o602] {
            chmod(secretFile, mode)
            let error = refusal(environment)
            #expect(error?.key == "INSTAGRAM_APP_SECRET_FILE", "mode \(String(mode, radix: 8))")
            #expect(error?.problem.contains("by") == true && error?.problem.contains("s3cr3t") == false)
        }
        chmod(secretFile, 0o400)
        #expect(try Configuration.load(environment: environment).credentials.appSecret == "s3cr3t")
        // Readable by its group only when root owns it: the root:instagram-auth 0640 layout.
        chmod(secretFile, 0o640)
        var info = stat()
        stat(secretFile, &info)
        if info.st_uid == 0 {
            #expect(try Configuration.load(environment: environment).credentials.appSecret == "s3cr3t")
        } else {
            #expect(refusal(environment)?.problem.contains("readable by its group") == true)
        }

        // A configuration file with a secret in it, the same; one without, as it likes.
        let withSecret = try temporaryFile("INSTAGRAM_APP_SECRET=in-the-file\n")
        chmod(withSecret, 0o644)
        #expect(refusal([:].merging(minimal) { a, _ in a }.filter { $0.key != "INSTAGRAM_APP_SECRET" }, file: withSecret)?.key == "INSTAGRAM_AUTH_CONFIG")
        let withPassword = try temporaryFile("INSTAGRAM_AUTH_DATABASE=postgres://app:pw-in-url@db/accounts\n")
        chmod(withPassword, 0o644)
        #expect(refusal(minimal, file: withPassword)?.key == "INSTAGRAM_AUTH_CONFIG", "a password in the database URL is a secret too")
        let withoutSecret = try temporaryFile("INSTAGRAM_HTTP_TIMEOUT=7\n")
        chmod(withoutSecret, 0o644)
        #expect(try Configuration.load(environment: minimal, configFile: withoutSecret).httpTimeoutSeconds == 7)
    }

    @Test func theDatabaseIsASQLiteFileOrAPostgresURLWithItsPasswordFromAFile() throws {
        var environment = minimal
        #expect(try Configuration.load(environment: environment).database == .sqlite(path: Configuration.defaultDatabasePath))
        environment["INSTAGRAM_AUTH_DATABASE"] = "postgresql://app@db.internal:6432/accounts"
        let file = try temporaryFile("pa ss:w@rd\n")
        environment["INSTAGRAM_AUTH_DATABASE_PASSWORD_FILE"] = file
        let configuration = try Configuration.load(environment: environment)
        guard case .postgres(let location) = configuration.database else {
            Issue.record("not PostgreSQL: \(configuration.database)")
            return
        }
        #expect(location.host == "db.internal" && location.port == 6432 && location.user == "app" && location.database == "accounts")
        #expect(location.password == "pa ss:w@rd")
        #expect(location.sslMode == .require)
        #expect("\(configuration.database)" == "postgres://app@db.internal:6432/accounts")

        // The same file through a configuration file, next to the URL.
        let config = try temporaryFile(
            "INSTAGRAM_AUTH_DATABASE=postgres://app@127.0.0.1/accounts\nINSTAGRAM_AUTH_DATABASE_PASSWORD_FILE=\(file)\n")
        let fromFile = try Configuration.database(environment: [:], configFile: config)
        #expect(fromFile == .postgres(try PostgresLocation(url: "postgres://app:pa%20ss%3Aw%40rd@127.0.0.1/accounts")))

        // A password in the URL and in the setting; a password for a SQLite file; neither a path nor a URL.
        environment["INSTAGRAM_AUTH_DATABASE"] = "postgres://app:inline@db.internal/accounts"
        #expect(refusal(environment)?.key == "INSTAGRAM_AUTH_DATABASE")
        environment["INSTAGRAM_AUTH_DATABASE"] = "/var/lib/instagram-auth/accounts.sqlite3"
        #expect(refusal(environment)?.key == "INSTAGRAM_AUTH_DATABASE_PASSWORD")
        environment["INSTAGRAM_AUTH_DATABASE_PASSWORD_FILE"] = nil
        for wrong in ["mysql://app@db/accounts", "postgres://db.internal/accounts", "postgres://app@db.internal/", "postgres://app@db/x?sslmode=prefer"] {
            environment["INSTAGRAM_AUTH_DATABASE"] = wrong
            let refused = refusal(environment)
            #expect(refused?.key == "INSTAGRAM_AUTH_DATABASE", "\(wrong) accepted")
        }
        // The password never in a refusal.
        environment["INSTAGRAM_AUTH_DATABASE"] = "postgres://app:hunter22@db.internal/"
        #expect(refusal(environment)?.description.contains("hunter22") == false)
    }

    @Test func stateKeyIsDerivedFromTheAppSecretUnlessGiven() throws {
        let derived = try Configuration.load(environment: minimal).stateKey
        var other = minimal
        other["INSTAGRAM_APP_SECRET"] = "another"
        #expect(try Configuration.load(environment: other).stateKey != derived)
        #expect(derived != Array("secret".utf8))
        other["INSTAGRAM_AUTH_STATE_SECRET"] = String(repeating: "k", count: 32)
        #expect(try Configuration.load(environment: other).stateKey == Array(String(repeating: "k", count: 32).utf8))
    }
}

@Suite("Signed state")
struct StateTests {
    let signer = StateSigner(key: Array("key-key-key-key-key-key-key-key-".utf8), lifetimeSeconds: 600)
    static let cookie = BrowserCookie(path: "/instagram/", secure: true, maxAgeSeconds: 900, key: Array("key-key-key-key-key-key-key-key-".utf8))
    let browser = Self.cookie.newValue()

    @Test func issuedStateVerifiesInTheSameBrowser() {
        let state = signer.issue(browser: browser)
        #expect(signer.verify(state, browser: browser) == .valid)
        #expect(signer.issue(browser: browser) != state)
    }

    @Test func aStateAndABrowserIdAreMadeOfTheRandomBytesGiven() throws {
        let bytes = (0..<28).map { UInt8($0 * 7 % 256) }
        let state = signer.issue(browser: browser, nonce: bytes.suffix(StateSigner.nonceCount))
        #expect(state.components(separatedBy: ".")[2] == Base64URL.encode(Array(bytes.suffix(12))))
        #expect(signer.verify(state, browser: browser) == .valid)
        let made = Self.cookie.newValue(random: bytes.prefix(BrowserCookie.randomCount))
        #expect(try #require(Base64URL.decode(made)).prefix(16) == bytes.prefix(16))
        #expect(Self.cookie.isOurs(made))
    }

    @Test func everyWayOfGettingItWrong() {
        let now = Date()
        let state = signer.issue(browser: browser, now: now)
        #expect(signer.verify(nil, browser: browser) == .missing)
        #expect(signer.verify("", browser: browser) == .missing)
        #expect(signer.verify("<script>", browser: browser) == .forged)
        #expect(signer.verify(state + "x", browser: browser) == .forged)
        var parts = state.split(separator: ".").map(String.init)
        parts[1] = String(Int(parts[1])! + 1000)
        #expect(signer.verify(parts.joined(separator: "."), browser: browser) == .forged)
        // The MAC's last character carries two unused bits: another spelling of the same bytes is not the state issued.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = alphabet.firstIndex(of: state.last!)!
        #expect(signer.verify(String(state.dropLast()) + String(alphabet[last ^ 1]), browser: browser, now: now) == .forged)
        let otherKey = StateSigner(key: Array("another-key-another-key-another-".utf8))
        #expect(otherKey.verify(state, browser: browser) == .forged)
        #expect(signer.verify(state, browser: browser, now: now + 601) == .expired)
        #expect(signer.verify(state, browser: nil, now: now) == .noCookie)
        #expect(signer.verify(state, browser: Self.cookie.newValue(), now: now) == .otherBrowser)
    }

    @Test func cookieHeaderAndCookieValues() {
        #expect(CookieHeader.value(named: "b", in: "a=1; b=two; c=3") == "two")
        #expect(CookieHeader.value(named: "b", in: "ab=1;b=\"q\"") == "q")
        #expect(CookieHeader.value(named: "b", in: "a=1") == nil)
        #expect(CookieHeader.value(named: "b", in: nil) == nil)
        #expect(CookieHeader.value(named: "b", in: "a=\u{600}; b=2") == "2", "U+0600 joins the ';' after it into one character")
        #expect(CookieHeader.value(named: "b", in: "=b=1; b=2") == "2", "a cookie without a name is not b")
        #expect(CookieHeader.value(named: "b", in: "b=; b=2") == "2")
        #expect(BrowserCookie.isWellFormed(browser))
        #expect(!BrowserCookie.isWellFormed("short"))
        #expect(!BrowserCookie.isWellFormed(String(repeating: "<", count: 32)))
        let secure = Self.cookie.header(value: "v")
        #expect(secure == "__Secure-instagram_auth_browser=v; Path=/instagram/; Max-Age=900; HttpOnly; SameSite=Lax; Secure")
        let plain = BrowserCookie(path: "/", secure: false, maxAgeSeconds: 1, key: [1])
        #expect(plain.header(value: "v") == "instagram_auth_browser=v; Path=/; Max-Age=1; HttpOnly; SameSite=Lax")
        // At the root of an https site the cookie is the host's alone.
        #expect(BrowserCookie(path: "/", secure: true, maxAgeSeconds: 1, key: [1]).name == "__Host-instagram_auth_browser")
    }

    @Test func onlyBrowserIdsThisSiteIssuedAreRead() {
        let cookie = Self.cookie
        let issued = cookie.newValue()
        #expect(cookie.isOurs(issued))
        #expect(cookie.value(in: "a=1; __Secure-instagram_auth_browser=\(issued)") == issued)
        // Well formed, but not issued here (tossed in from a sibling subdomain, or made up): not read.
        let madeUp = "ZnV6ei1icm93c2VyLWlkLTAwMDAwMDAx"
        #expect(BrowserCookie.isWellFormed(madeUp) && !cookie.isOurs(madeUp))
        #expect(cookie.value(in: "__Secure-instagram_auth_browser=\(madeUp)") == nil)
        // Issued with another key, or under the name without its prefix: not read either.
        let other = BrowserCookie(path: "/instagram/", secure: true, maxAgeSeconds: 900, key: Array("another-key-another-key-another-".utf8))
        #expect(!cookie.isOurs(other.newValue()))
        #expect(cookie.value(in: "instagram_auth_browser=\(issued)") == nil)
    }

    @Test func redactionKeepsOnlyAPrefix() {
        #expect(Redact.short("AQBx1234567890") == "AQBx…(14)")
        #expect(Redact.short("short") == "…(5)")
    }
}
