import Accounts
import ArgumentParser
import Foundation
import InstagramAPI
import InstagramAuth
import Logging
import SQLiteStore

#if canImport(Glibc)
import Glibc
#endif

/// What every command that touches Instagram or the store sets up.
struct Context {
    let configuration: Configuration
    let store: any AccountStore

    /// The configuration and its store. With `waitingForServer` (the responder), a PostgreSQL server that
    /// does not answer yet is no reason to stop: the store connects when it can. The store logs through `logger`, or
    /// warnings and worse in the chosen format.
    static func open(_ common: CommonOptions, waitingForServer: Bool = false, logger: Logger? = nil) async throws -> Context {
        let configuration = try Configuration.load(environment: ProcessInfo.processInfo.environment, configFile: common.configFile)
        let store = try await openStore(
            configuration.database, sealer: configuration.tokenSealer, waitingForServer: waitingForServer,
            logger: try logger ?? common.logger(level: "warning"))
        return Context(configuration: configuration, store: store)
    }

    /// The store alone, for commands that need no Instagram app: `accounts`, `token`, `forget`.
    static func store(_ common: CommonOptions) async throws -> any AccountStore {
        let environment = ProcessInfo.processInfo.environment
        return try await openStore(
            try Configuration.database(environment: environment, configFile: common.configFile),
            sealer: try Configuration.tokenSealer(environment: environment, configFile: common.configFile),
            logger: try common.logger(level: "warning"))
    }

    static func openStore(_ location: DatabaseLocation, sealer: TokenSealer?, waitingForServer: Bool = false, logger: Logger) async throws -> any AccountStore {
        do {
            return try await location.open(waitingForServer: waitingForServer, sealer: sealer, logger: logger)
        } catch {
            throw ConfigurationError("INSTAGRAM_AUTH_DATABASE", "\(error)")
        }
    }

    func client(transport: any HTTPTransport) -> InstagramClient {
        InstagramClient(
            profile: configuration.profile, credentials: configuration.credentials,
            endpoints: configuration.endpoints, transport: transport)
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print an account's current access token on stdout, for other scripts.",
        discussion: "USER is a username (with or without @) or a user id; it may be left out when one account is connected.")

    @Argument(help: "The account.")
    var user: String?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let store = try await Context.store(common)
        let account: Account
        do {
            account = try CommandError.chosen(Choice(user, among: try await store.accounts()), displayName: \.displayName)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        if let reason = account.inactiveReason {
            throw CommandError("\(account.displayName) needs a new authorization: \(reason)")
        }
        guard account.tokenExpiresAt > Date() else {
            throw CommandError("the token of \(account.displayName) expired on \(Formatting.date(account.tokenExpiresAt))")
        }
        print(account.accessToken)
    }
}

struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// The account a command's USER argument chose, or the error that says why there is none.
    static func chosen<Candidate>(_ choice: Choice<Candidate>, displayName: (Candidate) -> String) throws -> Candidate {
        switch choice {
        case .chosen(let candidate): return candidate
        case .unknown(let who): throw CommandError("no connected account \(who)")
        case .noneConnected: throw CommandError("no account is connected yet")
        case .several(let all): throw CommandError("\(all.count) accounts are connected; name one: \(all.map(displayName).joined(separator: ", "))")
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check what a deployment needs: the configuration, the templates, the database, and that Instagram answers.",
        discussion: """
            Prints one line per check; exits 1 if any failed. With INSTAGRAM_AUTH_TOKEN_KEY set, it also \
            encrypts every token stored before the key was (once each stored token opens with the key).
            """)

    @OptionGroup var common: CommonOptions

    func run() async throws {
        var failed = false
        func report(_ ok: Bool, _ text: String) {
            print("\(ok ? "ok  " : "FAIL") \(text)")
            if !ok { failed = true }
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(environment: ProcessInfo.processInfo.environment, configFile: common.configFile)
        } catch {
            report(false, "configuration: \(error)")
            throw ExitCode(1)
        }
        report(
            true,
            "configuration: \(configuration.profile.rawValue), app \(configuration.credentials.appID), redirect URI \(configuration.credentials.redirectURI)")
        if configuration.profile == .basicDisplay {
            print("note Basic Display has answered every request with an error since December 2024; move the app to instagram-login")
        }
        do {
            _ = try Pages(overrides: configuration.templatesDirectory)
            report(true, "templates: \(configuration.templatesDirectory ?? "built in")")
        } catch {
            report(false, "templates: \(error)")
        }
        do {
            let store = try await configuration.database.open(sealer: configuration.tokenSealer, logger: try common.logger(level: "critical"))
            let summary: Result<String, StoreError>
            do {
                try await store.checkWritable()
                let migrations = try await store.appliedMigrations()
                // Every stored token opens with the key first: a wrong key must not seal anything.
                let accounts = try await store.accounts()
                let sealed = try await store.sealPlainTokens()
                let attention = accounts.filter { $0.status != .active }.count
                summary = .success(
                    "writable, schema \(migrations.last ?? "-"), \(accounts.count) account(s)"
                        + (attention > 0 ? ", \(attention) needing a new authorization" : "")
                        + (configuration.tokenSealer == nil
                            ? "; tokens not encrypted at rest (INSTAGRAM_AUTH_TOKEN_KEY)"
                            : "; tokens encrypted at rest" + (sealed > 0 ? " (\(sealed) stored before the key encrypted now)" : "")))
            } catch {
                summary = .failure(error)
            }
            await store.close()
            report(true, "database \(configuration.database): \(try summary.get())")
        } catch {
            report(false, "database \(configuration.database): \(error)")
        }
        let media = configuration.feed.media
        if let problem = media.problem() {
            report(false, "media folder \(media.path) (INSTAGRAM_AUTH_MEDIA_DIR): \(problem)")
        } else {
            let usage = media.usage()
            report(true, "media folder \(media.path): writable, \(usage.copies) image copies, \(usage.bytes / 1_048_576) MiB")
        }
        let transport = AsyncHTTPTransport(timeoutSeconds: configuration.httpTimeoutSeconds)
        let endpoints = configuration.endpoints
        for url in [endpoints.oauthBaseURL, endpoints.apiBaseURL, endpoints.graphBaseURL] {
            do {
                let reply = try await transport.send(OutgoingRequest(.check, method: .get, url: url + "/"))
                report(true, "\(url) answers (HTTP \(reply.status)\(url.hasPrefix("https") ? ", certificate verified" : ""))")
            } catch {
                report(false, "\(url): \(error)")
            }
        }
        await transport.shutdown()
        if failed { throw ExitCode(1) }
    }
}

struct ImportPHP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-php",
        abstract: "Turn the legacy PHP script's defines.php into a configuration file.",
        discussion: """
            Reads define('NAME', 'value') lines and maps the app id, the app secret and the redirect URI \
            to INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET and INSTAGRAM_REDIRECT_URI. With --output the file \
            is created with mode 0600 (an existing file is never overwritten); otherwise it goes to stdout.
            """)

    @Argument(help: "The legacy script's defines.php.")
    var definesFile: String

    @Option(help: ArgumentHelp("Write the configuration here, mode 0600.", valueName: "file"))
    var output: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: definesFile) else {
            throw CommandError("cannot read \(definesFile)")
        }
        let text: String
        do {
            text = try LegacyDefines.configuration(from: String(decoding: data, as: UTF8.self), source: definesFile)
        } catch {
            throw CommandError(error.description)
        }
        guard let output else {
            print(text, terminator: "")
            return
        }
        let fd = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw CommandError("cannot create \(output): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        handle.write(Data(text.utf8))
        try handle.close()
        FileHandle.standardError.write(Data("wrote \(output); set INSTAGRAM_AUTH_ALLOWED_USERS in it (see its last lines)\n".utf8))
    }
}

struct ImportAccounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-accounts",
        abstract: "Copy the connected accounts of a SQLite file into the configured store (moving to PostgreSQL).",
        discussion: """
            Reads every account, with its token, from FILE (the SQLite file INSTAGRAM_AUTH_DATABASE named \
            before) and saves it in the store the configuration names now. An account the store already holds \
            with a token as new or newer is left as it is, so running it again, or after the new store has \
            refreshed a token, loses nothing. Results of recent authorizations (kept a day) are not copied. \
            Prints one line per account and a summary.
            """)

    @Argument(help: ArgumentHelp("The SQLite file to copy from.", valueName: "file"))
    var file: String

    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard FileManager.default.fileExists(atPath: file) else { throw CommandError("no such file: \(file)") }
        let environment = ProcessInfo.processInfo.environment
        let destination = try Configuration.database(environment: environment, configFile: common.configFile)
        // The file may have been written with the same key: read it with it (tokens written before open as they are).
        let sealer = try Configuration.tokenSealer(environment: environment, configFile: common.configFile)
        if case .sqlite(let path) = destination, Self.sameFile(path, file) {
            throw CommandError("\(file) is the configured store already (INSTAGRAM_AUTH_DATABASE)")
        }
        let source: SQLiteAccountStore
        do {
            source = try SQLiteAccountStore(path: file, sealer: sealer)
        } catch {
            throw CommandError("\(error)")
        }
        let store = try await Context.openStore(destination, sealer: sealer, logger: try common.logger(level: "warning"))
        var copied = 0
        var kept = 0
        for account in try await source.accounts() {
            if let present = try await store.account(account.userID), present.tokenObtainedAt >= account.tokenObtainedAt {
                print("\(account.displayName): kept, the store holds a token as new or newer")
                kept += 1
                continue
            }
            try await store.save(account)
            print("\(account.displayName): copied (\(account.status.rawValue), token valid until \(Formatting.date(account.tokenExpiresAt)))")
            copied += 1
        }
        await store.close()
        print("\(copied + kept) account(s) in \(file): \(copied) copied to \(destination), \(kept) already there")
    }

    private static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat()
        var second = stat()
        return stat(a, &first) == 0 && stat(b, &second) == 0 && first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }
}
