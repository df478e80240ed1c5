/// What turns a request into a response. The transport calls it from many threads and tasks at once.
public protocol Responder: Sendable {
    /// How `request` is answered, decided once (routed once) on the thread that read it — the event thread
    /// among them, so deciding must not wait on anything.
    func answer(to request: Request) -> Answer
}

/// A responder's answer to one request, by what giving it needs.
public enum Answer: Sendable {
    /// Computed from memory alone, already: given at once by the thread that read the request.
    case ready(Response)
    /// Reads a small local file (an image copy): given on a thread that may block, never the event thread.
    case reading(@Sendable () -> Response)
    /// Waits on the store or Instagram: runs as a task of its own.
    case waiting(@Sendable () async -> Response)
}

extension Responder {
    /// The answer when it needs no waiting (`ready` or `reading`), given on the calling thread; nil when it waits.
    public func immediateResponse(to request: Request) -> Response? {
        switch answer(to: request) {
        case .ready(let response): response
        case .reading(let read): read()
        case .waiting: nil
        }
    }

    /// The whole answer, however it is given.
    public func respond(to request: Request) async -> Response {
        switch answer(to: request) {
        case .ready(let response): response
        case .reading(let read): read()
        case .waiting(let wait): await wait()
        }
    }
}
