import CFastCGI
import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The FastCGI responder: `workers` threads accept connections and read requests with libfcgi;
/// each request is then answered by its own task, so a slow page (a slow call to Instagram)
/// never holds a thread that other visitors need.
public final class FastCGIServer: @unchecked Sendable {
    public struct Options: Sendable {
        /// Threads that accept and read requests.
        public var workers: Int
        /// Requests being answered at once; beyond it accepting pauses. It also keeps
        /// connection descriptors well below 1024, which libfcgi's `fd_set` use needs.
        public var maxInFlight: Int
        /// Request bodies longer than this get a 413 without being read.
        public var maxBodyBytes: Int

        public init(workers: Int = 8, maxInFlight: Int = 512, maxBodyBytes: Int = 64 * 1024) {
            self.workers = workers
            self.maxInFlight = maxInFlight
            self.maxBodyBytes = maxBodyBytes
        }
    }

    private let listener: OpenListener
    private let responder: any Responder
    private let options: Options
    private let logger: Logger

    private let lock = NSLock()
    private var stopping = false
    private var threads: [pthread_t] = []
    private let stopRequested = DispatchSemaphore(value: 0)
    private let slots: DispatchSemaphore
    private let inFlight = DispatchGroup()
    private let workersDone = DispatchGroup()
    private let writers = DispatchQueue(label: "instagram-auth.fastcgi.writers", attributes: .concurrent)

    public init(listener: OpenListener, responder: any Responder, options: Options = Options(), logger: Logger) {
        self.listener = listener
        self.responder = responder
        self.options = options
        self.logger = logger
        self.slots = DispatchSemaphore(value: max(1, options.maxInFlight))
    }

    /// Serves until `stop()`; then stops accepting, lets in-flight requests finish,
    /// removes the socket file it created, and returns.
    public func run() {
        Self.installWakeSignal()
        for index in 0..<max(1, options.workers) {
            workersDone.enter()
            let thread = Thread { [self] in
                // Threads inherit the creator's signal mask, and dispatch's threads block everything.
                var wake = sigset_t()
                sigemptyset(&wake)
                sigaddset(&wake, Self.wakeSignal)
                pthread_sigmask(SIG_UNBLOCK, &wake, nil)
                self.register(pthread_self())
                self.acceptLoop()
                self.workersDone.leave()
            }
            thread.name = "fastcgi-\(index)"
            thread.start()
        }
        logger.info("serving", metadata: ["workers": "\(options.workers)"])
        stopRequested.wait()

        // A thread blocked in accept() notices the stop only when a signal interrupts it
        // (FCGI_FAIL_ACCEPT_ON_INTR); one landing just before accept() is missed, so keep knocking.
        // FCGX_ShutdownPending() is not used: its flag is process-wide and permanent.
        while workersDone.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            lock.withLock { threads }.forEach { pthread_kill($0, Self.wakeSignal) }
        }
        inFlight.wait()
        listener.removeSocketFile()
        logger.info("stopped")
    }

    /// Asks `run()` to stop. Safe to call from any thread, more than once.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopping = true }
            return !stopping
        }
        if first { stopRequested.signal() }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func register(_ thread: pthread_t) {
        lock.withLock { threads.append(thread) }
    }

    private func acceptLoop() {
        while !isStopping {
            slots.wait()
            let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
            FCGX_InitRequest(request, listener.fd, FCGI_FAIL_ACCEPT_ON_INTR)
            let accepted = FCGX_Accept_r(request)
            guard accepted >= 0 else {
                let failure = errno
                FCGX_Free(request, 1)
                request.deallocate()
                slots.signal()
                if isStopping { break }
                if failure != EINTR {
                    // Out of descriptors, a broken peer: log, back off briefly, keep serving.
                    logger.warning(
                        "accept failed", metadata: ["result": "\(accepted)", "error": "\(String(cString: strerror(failure)))"])
                    usleep(50_000)
                }
                continue
            }
            inFlight.enter()
            let parsed = Self.read(request, maxBodyBytes: options.maxBodyBytes)
            let connection = Connection(request)
            switch parsed {
            case .success(let incoming):
                Task { [responder, writers] in
                    let response = await responder.respond(to: incoming)
                    writers.async { self.finish(connection, with: response, includeBody: incoming.method != "HEAD") }
                }
            case .failure(let answer):
                finish(connection, with: answer.response, includeBody: true)
            }
        }
    }

    private func finish(_ connection: Connection, with response: Response, includeBody: Bool) {
        let request = connection.request
        let bytes = response.serialized(includeBody: includeBody)
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 20)
            let written = bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: chunk) {
                    FCGX_PutStr($0, Int32(chunk), request.pointee.out)
                }
            }
            if written < 0 {
                logger.debug("the web server went away before the response was written")
                break
            }
            offset += chunk
        }
        // libfcgi would pin this connection to one request struct when the web server asks
        // to keep it: answer and close instead, so no worker waits on an idle connection.
        request.pointee.keepConnection = 0
        FCGX_Finish_r(request)
        request.deallocate()
        slots.signal()
        inFlight.leave()
    }

    /// Copies params and body out of libfcgi's memory, or says why the request can't be served.
    static func read(_ request: UnsafeMutablePointer<FCGX_Request>, maxBodyBytes: Int) -> Result<Request, Failure> {
        var strings: [String] = []
        if var entry = request.pointee.envp {
            while let pointer = entry.pointee {
                strings.append(String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self))
                entry += 1
            }
        }
        let params = Self.params(strings)
        let declared: Int
        switch Self.bodyLength(declaredIn: params, maxBodyBytes: maxBodyBytes) {
        case .success(let length): declared = length
        case .failure(let failure): return .failure(failure)
        }
        var body = [UInt8](repeating: 0, count: declared)
        var filled = 0
        while filled < declared {
            let got = body.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: filled).withMemoryRebound(to: CChar.self, capacity: declared - filled) {
                    FCGX_GetStr($0, Int32(declared - filled), request.pointee.in)
                }
            }
            if got <= 0 { break }
            filled += Int(got)
        }
        body.removeLast(declared - filled)
        return .success(Request(params: params, body: body))
    }

    /// The params from libfcgi's `NAME=value` strings (its `envp`); a string without '=' is left out.
    /// The first '=' by unicode scalars: a value starting with a combining mark joins it into one character.
    public static func params(_ strings: [String]) -> [String: String] {
        var params: [String: String] = [:]
        for pair in strings {
            let scalars = pair.unicodeScalars
            if let equals = scalars.firstIndex(of: "=") {
                params[String(scalars[..<equals])] = String(scalars[scalars.index(after: equals)...])
            }
        }
        return params
    }

    /// How many body bytes to read: the declared `CONTENT_LENGTH`, or the answer for one that is refused.
    public static func bodyLength(declaredIn params: [String: String], maxBodyBytes: Int) -> Result<Int, Failure> {
        let declared = params["CONTENT_LENGTH"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
        guard declared >= 0 else { return .failure(Failure(Response.plain(400, "Malformed Content-Length.\n"))) }
        guard declared <= maxBodyBytes else {
            return .failure(Failure(Response.plain(413, "The request body is too large.\n")))
        }
        return .success(declared)
    }

    /// A request the transport answers itself, without the page.
    public struct Failure: Error {
        public let response: Response
        init(_ response: Response) { self.response = response }
    }

    /// A request struct handed from the accepting thread to the one that answers it; never shared.
    private struct Connection: @unchecked Sendable {
        let request: UnsafeMutablePointer<FCGX_Request>
        init(_ request: UnsafeMutablePointer<FCGX_Request>) { self.request = request }
    }

    static let wakeSignal = SIGUSR2

    private static func installWakeSignal() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: accept() must return EINTR
        sigaction(wakeSignal, &action, nil)
    }
}


extension Response {
    /// A short plain-text answer, for the transport's own refusals.
    public static func plain(_ status: Int, _ text: String) -> Response {
        Response(
            status: status,
            headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(text.utf8))
    }
}
