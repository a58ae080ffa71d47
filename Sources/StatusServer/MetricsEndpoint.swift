import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization

/// `GET /metrics` in the Prometheus text exposition format; 404 elsewhere.
///
/// Scrapers keep their HTTP connections alive between scrapes, so the endpoint
/// tracks the open ones: closing it closes them too, and a stopping daemon does
/// not leave a connection behind.
final class MetricsEndpoint: Sendable {
    private let listener: any Channel
    private let connections: Connections

    var port: Int? { listener.localAddress?.port }

    private init(listener: any Channel, connections: Connections) {
        self.listener = listener
        self.connections = connections
    }

    static func bind(host: String, port: Int, registry: PrometheusCollectorRegistry,
                     group: any EventLoopGroup) async throws -> MetricsEndpoint {
        let connections = Connections()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(registry: registry))
                }
            }
            .bind(host: host, port: port)
            .get()
        return MetricsEndpoint(listener: listener, connections: connections)
    }

    /// Stops accepting and closes every open connection.
    func close() async {
        try? await listener.close()
        for channel in connections.closeAll() { try? await channel.closeFuture.get() }
    }

    /// The open connections; once closed, a late connection is closed as it arrives.
    private final class Connections: Sendable {
        private let state = Mutex<(open: [ObjectIdentifier: any Channel], closed: Bool)>(([:], false))

        func add(_ channel: any Channel) {
            let key = ObjectIdentifier(channel)
            let accepted = state.withLock { s -> Bool in
                if s.closed { return false }
                s.open[key] = channel
                return true
            }
            guard accepted else { channel.close(promise: nil); return }
            channel.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.open.removeValue(forKey: key) } }
        }

        func closeAll() -> [any Channel] {
            let channels = state.withLock { s in
                s.closed = true
                return Array(s.open.values)
            }
            channels.forEach { $0.close(promise: nil) }
            return channels
        }
    }
}

private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var request: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
        switch (head.method, path) {
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
        case (_, "/metrics"):
            (status, contentType, body) = (.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET\n".utf8))
        default:
            (status, contentType, body) = (.notFound, "text/plain; charset=utf-8", Array("not found; try /metrics\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
