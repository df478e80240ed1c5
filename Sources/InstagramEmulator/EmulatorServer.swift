import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Serves an `Emulator` over HTTP/1.1 on loopback: plain, or HTTPS with a given certificate.
public final class EmulatorServer: Sendable {
    /// PEM files for HTTPS: the certificate (chain, leaf first) and its private key.
    public struct TLSFiles: Sendable {
        public var certificateFile: String
        public var privateKeyFile: String

        public init(certificateFile: String, privateKeyFile: String) {
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
        }
    }

    public let emulator: Emulator
    /// `https` when serving TLS, else `http`.
    public let scheme: String
    private let host: String
    private let channel: any Channel

    /// Binds `host:port` (port 0 picks a free one); with `tls`, every connection must start with a TLS handshake.
    /// Several servers may serve one `Emulator`, e.g. one over HTTP and one over HTTPS.
    public init(emulator: Emulator, host: String, port: Int, tls: TLSFiles? = nil) async throws {
        self.emulator = emulator
        let context: NIOSSLContext? = try tls.map { files in
            let chain = try NIOSSLCertificate.fromPEMFile(files.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: files.privateKeyFile, format: .pem)
            return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        }
        scheme = context == nil ? "http" : "https"
        self.host = host.contains(":") ? "[\(host)]" : host
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(EmulatorHandler(emulator: emulator))
                }
            }
            .bind(host: host, port: port).get()
        emulator.serveMedia(at: baseURL)
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// `scheme://host:port`, for the base URL settings.
    public var baseURL: String { "\(scheme)://\(host):\(port)" }

    public func close() async throws {
        try await channel.close()
    }

    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }
}

final class EmulatorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let emulator: Emulator
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    static let maxBody = 1 << 20

    init(emulator: Emulator) {
        self.emulator = emulator
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes <= Self.maxBody { body.writeBuffer(&chunk) }
        case .end:
            guard let head else { return }
            self.head = nil
            let components = URLComponents(string: head.uri)
            var query: [String: String] = [:]
            for item in components?.queryItems ?? [] where query[item.name] == nil { query[item.name] = item.value ?? "" }
            var form: [String: String] = [:]
            if head.method == .POST {
                let text = String(buffer: body)
                var parser = URLComponents()
                parser.percentEncodedQuery = text.replacingOccurrences(of: "+", with: "%20")
                for item in parser.queryItems ?? [] where form[item.name] == nil { form[item.name] = item.value ?? "" }
            }
            let path = components?.path ?? head.uri
            var reply = emulator.handle(method: head.method.rawValue, path: path, query: query, form: form)
            if let delay = emulator.delay(for: path) { reply = .delayed(milliseconds: delay, reply) }
            send(reply, context: context, keepAlive: head.isKeepAlive)
        }
    }

    private func send(_ reply: Emulator.Action, context: ChannelHandlerContext, keepAlive: Bool) {
        switch reply {
        case .hang:
            return
        case .trickle(let interval):
            var fields = HTTPHeaders()
            fields.add(name: "Content-Type", value: "application/json; charset=UTF-8")
            fields.add(name: "Content-Length", value: String(Self.maxBody))
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: fields))), promise: nil)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let channel = context.channel
            context.eventLoop.scheduleRepeatedTask(
                initialDelay: .milliseconds(Int64(interval)), delay: .milliseconds(Int64(interval))
            ) { task in
                guard channel.isActive else {
                    task.cancel()
                    return
                }
                let (handler, context) = bound.value
                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: " ")))), promise: nil)
            }
        case .reset:
            // SO_LINGER 0: close() sends a TCP RST instead of a FIN, as a crashed peer would.
            let channel = context.channel
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        case .callMeta(let call):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            Task {
                let answer = await Emulator.perform(call)
                eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.send(answer, context: context, keepAlive: keepAlive)
                }
            }
        case .delayed(let milliseconds, let inner):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(milliseconds))) {
                let (handler, context) = bound.value
                handler.send(inner, context: context, keepAlive: keepAlive)
            }
        case .respond(let status, let headers, let text):
            send(status: status, headers: headers, body: ByteBuffer(string: text), context: context, keepAlive: keepAlive)
        case .binary(let status, let headers, let bytes):
            send(status: status, headers: headers, body: ByteBuffer(bytes: bytes), context: context, keepAlive: keepAlive)
        }
    }

    private func send(status: Int, headers: [String: String], body: ByteBuffer, context: ChannelHandlerContext, keepAlive: Bool) {
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.add(name: name, value: value) }
        fields.add(name: "Content-Length", value: String(body.readableBytes))
        if !keepAlive { fields.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: fields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
