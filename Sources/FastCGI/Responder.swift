/// What turns a request into a response. The transport calls it from many tasks at once.
public protocol Responder: Sendable {
    func respond(to request: Request) async -> Response
    /// The answer, when it needs no waiting (nothing to ask another server or a database), computed on
    /// the calling thread; nil sends the request to `respond(to:)`. Must agree with `respond(to:)`.
    func immediateResponse(to request: Request) -> Response?
}

extension Responder {
    public func immediateResponse(to request: Request) -> Response? { nil }
}
