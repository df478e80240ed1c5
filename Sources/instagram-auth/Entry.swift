import ArgumentParser
import Dispatch
import FastCGI
import Foundation
import InstagramAPI
import InstagramAuth
import LogHandlers
import Logging
import ProcessMemory

#if canImport(Glibc)
import Glibc
#endif

@main
enum Entry {
    static func main() async {
        let environment = ProcessInfo.processInfo.environment
        // Started by a web server as CGI: answer the one request, whatever argv holds
        // (CGI passes a query string without '=' as arguments).
        if environment["GATEWAY_INTERFACE"]?.hasPrefix("CGI/") == true, environment["REQUEST_METHOD"] != nil {
            exit(await CGIMode.run(environment: environment))
        }
        await InstagramAuthCommand.main()
    }
}

struct InstagramAuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instagram-auth",
        abstract: "Connects an Instagram account to a website and shows its posts there: the authorize page and callback, the cached feed and its images, behind nginx over FastCGI.",
        discussion: """
            Configuration comes from the environment, or from KEY=value lines in the file named by \
            --config or INSTAGRAM_AUTH_CONFIG (the environment wins). Required: INSTAGRAM_APP_ID, \
            INSTAGRAM_APP_SECRET (or INSTAGRAM_APP_SECRET_FILE), INSTAGRAM_REDIRECT_URI, and \
            INSTAGRAM_AUTH_ALLOWED_USERS (who may connect: usernames or user ids, or * for anyone). Accounts are kept \
            where INSTAGRAM_AUTH_DATABASE says: a SQLite file (/var/lib/instagram-auth/accounts.sqlite3 by \
            default), or postgres://user@host/database for several web servers sharing one store.

            Started by a web server as CGI (GATEWAY_INTERFACE=CGI/1.1), it answers that one request and exits.
            """,
        subcommands: [
            Serve.self, Refresh.self, Accounts.self, TokenCommand.self, FeedCommand.self, Forget.self, Check.self, ImportPHP.self, ImportAccounts.self,
        ])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the FastCGI responder.",
        discussion: """
            With neither --socket nor --listen it serves the listening socket it inherited: fd 3 under \
            systemd socket activation (LISTEN_FDS), fd 0 otherwise (spawn-fcgi, any FastCGI process manager). \
            SIGTERM or SIGINT: stop accepting, answer every request already accepted or waiting in the \
            backlog of a socket it opened (an inherited socket keeps its backlog for the next process), \
            remove the socket file, exit 0. A PostgreSQL store that does not answer at start is no reason \
            to stop: the authorize page answers, callbacks get an error page until the database is back, and \
            the responder reconnects on its own. Beside the page it answers ping, ready and status for monitors \
            and load balancers (status only to loopback and INSTAGRAM_AUTH_STATUS_ALLOW); a request slower than \
            INSTAGRAM_AUTH_SLOW_REQUEST seconds is logged with where its time went.
            """)

    @Option(help: ArgumentHelp("Listen on a Unix socket at PATH, replacing a stale one.", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Listen on TCP HOST:PORT.", valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("Permissions of the Unix socket, in octal; the web server's user must be able to write to it.", valueName: "mode"))
    var socketMode = "0660"

    @Option(help: ArgumentHelp("Owner of the Unix socket, USER[:GROUP] (needs root).", valueName: "user:group"))
    var socketOwner: String?

    @Option(help: "Threads that read feed image copies from disk. Pages from memory are answered on the event thread, and answers that wait on Instagram or the database run concurrently beyond this: a slow Instagram or an idle connection holds no thread.")
    var workers = 4

    @OptionGroup var common: CommonOptions

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard workers >= 1, workers <= 256 else { throw ValidationError("--workers must be from 1 to 256") }
        guard socket == nil || listen == nil else { throw ValidationError("give --socket or --listen, not both") }
        guard UInt16(socketMode, radix: 8).map({ $0 <= 0o777 }) == true else {
            throw ValidationError("--socket-mode must be octal permissions such as 0660")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
    }

    func run() async throws {
        let startFiles = StartPages.loaded()
        ProcessHardening.noCoreDumps()
        let logger = try common.logger(level: logLevel)
        let context = try await Context.open(common, waitingForServer: true, logger: logger)
        let configuration = context.configuration
        let pages = try Pages(overrides: configuration.templatesDirectory)
        let chosen = try chosenListener()
        if case .tcp(let host, let port) = chosen, !Configuration.isLoopback(host),
            (ProcessInfo.processInfo.environment["FCGI_WEB_SERVER_ADDRS"] ?? "").trimmingCharacters(in: .whitespaces).isEmpty
        {
            logger.warning(
                "listening on \(host):\(port), beyond loopback, without FCGI_WEB_SERVER_ADDRS: anyone who reaches this port can send FastCGI requests; set FCGI_WEB_SERVER_ADDRS to the web server's address")
        }
        let listener = try OpenListener.open(chosen)
        let transport = AsyncHTTPTransport(timeoutSeconds: configuration.httpTimeoutSeconds)
        let activity = ServerActivity()
        let router = Router(
            configuration: configuration, transport: transport, store: context.store, pages: pages, server: activity, logger: logger)
        let server: FastCGIServer
        do {
            server = try FastCGIServer(listener: listener, responder: router, options: .init(workers: workers), activity: activity, logger: logger)
        } catch {
            // The HTTP client must be shut down before it goes: AsyncHTTPClient traps otherwise.
            await transport.shutdown()
            listener.removeSocketFile()
            throw error
        }

        signal(SIGPIPE, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { server.stop() }
            source.resume()
            sources.append(source)
        }
        logger.info(
            "instagram-auth ready",
            metadata: [
                "api": "\(configuration.profile.rawValue)", "redirect_uri": "\(configuration.credentials.redirectURI)",
                "listen": "\(describe(listener))", "database": "\(configuration.database)",
            ])
        // Idle, the responder then holds the pages serving touches, not every page starting did.
        let released = startFiles.letGo()
        logger.debug("pages touched while starting let go", metadata: ["bytes": "\(released)"])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                server.run()
                done.resume()
            }
            thread.name = "fastcgi-main"
            thread.start()
        }
        sources.forEach { $0.cancel() }
        // A feed fetch or a hook still running gets a few seconds to end well (a fetch cut short keeps its claim
        // until it goes stale).
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await router.finishBackgroundWork() }
            group.addTask { try? await Task.sleep(for: .seconds(10)) }
            await group.next()
            group.cancelAll()
        }
        await transport.shutdown()
        await context.store.close()
    }

    private func chosenListener() throws -> Listener {
        if let socket {
            return .unixSocket(path: socket, mode: mode_t(socketMode, radix: 8), owner: socketOwner)
        }
        if let listen {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (1...65535).contains(port)
            else {
                throw ValidationError("--listen must be HOST:PORT, such as 127.0.0.1:9000")
            }
            return .tcp(host: String(listen[..<colon]), port: port)
        }
        let environment = ProcessInfo.processInfo.environment
        if environment["LISTEN_PID"] == String(getpid()), environment["LISTEN_FDS"] == "1" {
            return .inherited(fd: 3)
        }
        return .inherited(fd: 0)
    }

    private func describe(_ listener: OpenListener) -> String {
        if let path = listener.socketPath { return "unix:\(path)" }
        if let listen { return listen }
        return "fd \(listener.fd)"
    }
}

/// One request from the CGI environment and stdin, answered on stdout.
enum CGIMode {
    static func run(environment: [String: String]) async -> Int32 {
        ProcessHardening.noCoreDumps()
        let format = (try? Configuration.logFormat(environment: environment)) ?? .text
        let logger = CommandLineLogger.make(level: environment["INSTAGRAM_AUTH_LOG_LEVEL"] ?? "notice", format: format)
        let response: Response
        var includeBody = true
        do {
            let configuration = try Configuration.load(environment: environment)
            let pages = try Pages(overrides: configuration.templatesDirectory, checked: false)
            let declared = Int(environment["CONTENT_LENGTH"] ?? "") ?? 0
            var body: [UInt8] = []
            if declared > 0, declared <= 64 * 1024 {
                body = Array(FileHandle.standardInput.readData(ofLength: declared))
            }
            let request = Request(params: environment, body: body)
            includeBody = request.method != "HEAD"
            if declared > 64 * 1024 {
                response = Response.plain(413, "The request body is too large.\n")
            } else if let immediate = Router(configuration: configuration, pages: pages, logger: logger).immediateResponse(to: request) {
                // The authorize link (the page most requests ask for): no database, no HTTP client to start.
                response = immediate
            } else {
                let store = try await configuration.database.open(waitingForServer: true, sealer: configuration.tokenSealer, logger: logger)
                let transport = AsyncHTTPTransport(timeoutSeconds: configuration.httpTimeoutSeconds)
                let router = Router(configuration: configuration, transport: transport, store: store, pages: pages, logger: logger)
                let answer = await router.respond(to: request)
                // The web server has the answer once stdout closes; a fetch it started finishes after that.
                answerAndClose(answer, includeBody: includeBody)
                await router.finishBackgroundWork()
                await transport.shutdown()
                await store.close()
                return 0
            }
        } catch {
            logger.error("configuration refused: \(error)")
            response = Response.plain(500, "instagram-auth is not configured correctly; the server log says why.\n")
        }
        answerAndClose(response, includeBody: includeBody)
        return 0
    }
}

extension CGIMode {
    /// Writes the answer and ends stdout, so the web server has all of it; stdout becomes /dev/null, so that no
    /// descriptor opened later takes its number.
    static func answerAndClose(_ response: Response, includeBody: Bool) {
        FileHandle.standardOutput.write(Data(response.serialized(includeBody: includeBody)))
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        if null >= 0 {
            dup2(null, STDOUT_FILENO)
            close(null)
        } else {
            close(STDOUT_FILENO)
        }
    }
}

enum ProcessHardening {
    /// A core dump of the responder would hold the app secret and tokens: none is written, whatever the
    /// limit it was started with.
    static func noCoreDumps() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
    }
}

enum CommandLineLogger {
    static func make(level: String, format: LogFormat) -> Logger {
        format.logger(label: "instagram-auth", level: Logger.Level(rawValue: level) ?? .info)
    }
}
