import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One outgoing call to Instagram.
public struct OutgoingRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }
    public var method: Method
    public var url: String
    public var form: [(String, String)]?

    public init(method: Method, url: String, form: [(String, String)]? = nil) {
        self.method = method
        self.url = url
        self.form = form
    }
}

public struct IncomingReply: Sendable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// How calls reach Instagram. The real one is `AsyncHTTPTransport`.
public protocol HTTPTransport: Sendable {
    func send(_ request: OutgoingRequest) async throws(InstagramError) -> IncomingReply
}

/// HTTPS through AsyncHTTPClient: certificates verified, no redirects followed, every call bounded by `timeout`.
public final class AsyncHTTPTransport: HTTPTransport {
    public let timeoutSeconds: Int
    /// Larger answers are not Instagram's: refuse them rather than buffer them.
    public static let maxBodyBytes = 1 << 20
    /// Calls to one Instagram host at once; more wait for a connection.
    public static let maxConnectionsPerHost = 512
    private let client: HTTPClient

    public init(timeoutSeconds: Int) {
        self.timeoutSeconds = timeoutSeconds
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(Int64(timeoutSeconds)), read: .seconds(Int64(timeoutSeconds))))
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        // Every visitor coming back from Instagram needs its own call at once: with the default of
        // 8 connections per host, the ninth would wait for the first to finish (and time out).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.maxConnectionsPerHost
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    public func send(_ request: OutgoingRequest) async throws(InstagramError) -> IncomingReply {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method == .post ? .POST : .GET
        outgoing.headers.add(name: "Accept", value: "application/json")
        outgoing.headers.add(name: "User-Agent", value: "instagram-auth")
        if let form = request.form {
            outgoing.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            outgoing.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        }
        do {
            let response = try await client.execute(outgoing, timeout: .seconds(Int64(timeoutSeconds)))
            let body = try await response.body.collect(upTo: Self.maxBodyBytes)
            return IncomingReply(status: Int(response.status.code), body: Array(buffer: body))
        } catch {
            throw classify(error)
        }
    }

    private func classify(_ error: any Error) -> InstagramError {
        if let error = error as? HTTPClientError {
            let timeouts: [HTTPClientError] = [
                .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .getConnectionFromPoolTimeout,
            ]
            if timeouts.contains(error) { return .timedOut(seconds: timeoutSeconds) }
            if error == .remoteConnectionClosed { return .unreachable("the connection was closed before an answer came") }
            if error == .invalidURL || error == .emptyHost { return .unreachable("the configured URL is not usable") }
        }
        if error is NIOTooManyBytesError {
            return .unexpectedResponse(status: 200, detail: "an answer larger than \(Self.maxBodyBytes) bytes")
        }
        if let error = error as? IOError {
            return .unreachable(String(cString: strerror(error.errnoCode)).lowercased())
        }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("certificate") || text.localizedCaseInsensitiveContains("handshake") {
            return .unreachable("the TLS certificate could not be verified (\(text))")
        }
        if text.localizedCaseInsensitiveContains("timeout") || text.localizedCaseInsensitiveContains("timed out") {
            return .timedOut(seconds: timeoutSeconds)
        }
        return .unreachable(text)
    }
}
