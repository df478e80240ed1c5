import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL

/// One outgoing call to Instagram.
public struct OutgoingRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }
    /// Which of the program's calls this is: the name the status page counts it under.
    public enum Call: String, Sendable, CaseIterable {
        /// The code for a token (the callback).
        case token
        /// The short-lived token for a long-lived one.
        case longLived = "long_lived"
        case refresh
        /// `/me`: whose token it is.
        case profile
        /// `/me/media`: the feed.
        case media
        /// An image for the feed's copies.
        case image
        /// `check`'s look at whether Instagram answers.
        case check
    }
    public var call: Call
    public var method: Method
    public var url: String
    public var form: [(String, String)]?
    /// The largest answer taken, when not the transport's own bound for Instagram's JSON (an image may be larger).
    public var maxBodyBytes: Int?

    public init(_ call: Call, method: Method, url: String, form: [(String, String)]? = nil, maxBodyBytes: Int? = nil) {
        self.call = call
        self.method = method
        self.url = url
        self.form = form
        self.maxBodyBytes = maxBodyBytes
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

    public convenience init(timeoutSeconds: Int) {
        self.init(timeoutSeconds: timeoutSeconds, additionalTrustRootsFile: nil)
    }

    /// `additionalTrustRootsFile`: PEM certificates to trust besides the system's (a local test CA). Verification of
    /// the chain and of the host name stays on whatever is trusted: there is no way to switch it off.
    package init(timeoutSeconds: Int, additionalTrustRootsFile: String?) {
        self.timeoutSeconds = timeoutSeconds
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let additionalTrustRootsFile { tls.additionalTrustRoots = [.file(additionalTrustRootsFile)] }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(Int64(timeoutSeconds)), read: .seconds(Int64(timeoutSeconds))))
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        // Every visitor coming back from Instagram needs its own call at once: with the default of
        // 8 connections per host, the ninth would wait for the first to finish (and time out).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.maxConnectionsPerHost
        // A refused connection or a certificate that does not verify fails the call at once, with its own
        // reason, instead of being retried until the timeout and reported as one.
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    public func send(_ request: OutgoingRequest) async throws(InstagramError) -> IncomingReply {
        let outgoing: HTTPClient.Request
        do {
            var headers = HTTPHeaders([("Accept", request.maxBodyBytes == nil ? "application/json" : "*/*"), ("User-Agent", "instagram-auth")])
            var body: HTTPClient.Body?
            if let form = request.form {
                headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                body = .string(FormEncoding.encode(form))
            }
            outgoing = try HTTPClient.Request(
                url: request.url, method: request.method == .post ? .POST : .GET, headers: headers, body: body)
        } catch {
            throw classify(error)
        }
        // The deadline of this (EventLoopFuture) API bounds the whole exchange — connecting, the head and
        // every byte of the body — so an answer that trickles in forever times out too.
        let deadline = NIODeadline.now() + .seconds(Int64(timeoutSeconds))
        let limit = request.maxBodyBytes ?? Self.maxBodyBytes
        let accumulator = ResponseAccumulator(request: outgoing, maxBodySize: limit)
        do {
            let response = try await client.execute(request: outgoing, delegate: accumulator, deadline: deadline).get()
            return IncomingReply(status: Int(response.status.code), body: response.body.map { Array(buffer: $0) } ?? [])
        } catch {
            throw classify(error, limit: limit)
        }
    }

    private func classify(_ error: any Error, limit: Int = AsyncHTTPTransport.maxBodyBytes) -> InstagramError {
        if let error = error as? HTTPClientError {
            let timeouts: [HTTPClientError] = [
                .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .getConnectionFromPoolTimeout,
            ]
            if timeouts.contains(error) { return .timedOut(seconds: timeoutSeconds) }
            if error == .remoteConnectionClosed { return .unreachable("the connection was closed before an answer came") }
            if error == .invalidURL || error == .emptyHost { return .unreachable("the configured URL is not usable") }
        }
        if error is NIOTooManyBytesError || error is ResponseAccumulator.ResponseTooBigError {
            return .unexpectedResponse(status: 200, detail: "an answer larger than \(limit) bytes")
        }
        if let reason = Self.tlsFailure(error) { return .tlsFailed(reason) }
        if let error = error as? IOError {
            return .unreachable(String(cString: strerror(error.errnoCode)).lowercased())
        }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("timeout") || text.localizedCaseInsensitiveContains("timed out") {
            return .timedOut(seconds: timeoutSeconds)
        }
        return .unreachable(text)
    }

    /// What went wrong in a TLS handshake, in words; nil for an error that is not TLS's.
    static func tlsFailure(_ error: any Error) -> String? {
        let text = String(describing: error)
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "its certificate is for another host name"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            if text.localizedCaseInsensitiveContains("hostname mismatch") || text.contains("HOSTNAME_MISMATCH") {
                return "its certificate is for another host name"
            }
            return "its certificate could not be verified"
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError
            || text.localizedCaseInsensitiveContains("handshake") || text.localizedCaseInsensitiveContains("certificate")
        {
            return "the TLS handshake failed"
        }
        return nil
    }
}
