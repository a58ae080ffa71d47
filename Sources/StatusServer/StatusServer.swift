#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import Synchronization

/// Where and how the status server listens.
public struct StatusServerConfiguration: Sendable {
    /// Path of the Unix domain socket.
    public var socketPath: String
    /// Permission bits of the socket file (owner and group may connect by default).
    public var socketMode: mode_t = 0o660
    /// Clients beyond this are told so and disconnected.
    public var maxClients = 32
    /// Longest request line accepted, bytes; a longer one disconnects the client.
    public var maxLineBytes = 64 * 1024
    /// Bytes a client may leave unread before it is dropped.
    public var maxQueuedBytes = 4 * 1024 * 1024
    /// Most records one `history` reply may carry.
    public var maxHistoryRecords = 10_000
    /// TCP port of the HTTP `/metrics` endpoint, or nil for none. 0 picks a free port.
    public var metricsPort: Int?
    /// Address the metrics endpoint binds to.
    public var metricsHost = "127.0.0.1"

    public static let defaultSocketPath = "/run/cellbench/cellbenchd.sock"

    public init(socketPath: String = Self.defaultSocketPath, metricsPort: Int? = nil) {
        self.socketPath = socketPath
        self.metricsPort = metricsPort
    }
}

extension StatusServerConfiguration {
    /// Rejects settings the server cannot work with, naming the setting.
    func validate() throws {
        let positive: [(String, Int)] = [("maxClients", maxClients), ("maxLineBytes", maxLineBytes),
                                         ("maxQueuedBytes", maxQueuedBytes), ("maxHistoryRecords", maxHistoryRecords)]
        for (name, value) in positive where value <= 0 {
            throw StatusServerError(description: "status server setting \(name) must be positive, got \(value)")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw StatusServerError(description: "status server setting metricsPort must be 0…65535, got \(metricsPort)")
        }
        if socketMode & ~0o777 != 0 {
            throw StatusServerError(description: "status server setting socketMode must be permission bits (0…0777), got \(String(socketMode, radix: 8))")
        }
    }
}

/// Failures to start the server, naming the path or address concerned.
public struct StatusServerError: Error, CustomStringConvertible {
    public let description: String
}

/// Serves live status over a Unix socket (NDJSON, see docs/status-protocol.md)
/// and, when configured, Prometheus metrics over HTTP.
///
/// Runs on a NIO event loop group; `start()` and `stop()` may be called from
/// any task. The rings are read through cursors of its own, so acquisition is
/// never slowed by a client.
public final class StatusServer: Sendable {
    public let configuration: StatusServerConfiguration
    private let context: SessionContext
    private let registry: PrometheusCollectorRegistry
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var listener: (any Channel)?
        var metricsEndpoint: MetricsEndpoint?
        var sessions: [ObjectIdentifier: ClientSession] = [:]
        var stopping = false
    }

    /// - Parameters:
    ///   - registry: exposed at `/metrics`; the server's own metrics are registered in it too.
    ///   - group: event loops for the sockets (the shared NIO singleton by default).
    public init(configuration: StatusServerConfiguration, streams: BenchStreams, provider: any StatusProvider,
                registry: PrometheusCollectorRegistry, logger: Logger = Logger(label: "cellbench.status"),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.registry = registry
        self.group = group
        self.logger = logger
        let limits = ServerMessage.Limits(maxLineBytes: configuration.maxLineBytes,
                                          maxQueuedBytes: configuration.maxQueuedBytes,
                                          maxClients: configuration.maxClients,
                                          maxHistoryRecords: configuration.maxHistoryRecords)
        context = SessionContext(streams: streams, provider: provider, limits: limits,
                                 metrics: StatusMetrics(factory: PrometheusMetricsFactory(registry: registry)))
    }

    /// Port the metrics endpoint listens on (useful when configured as 0), nil when it is off.
    public var metricsPort: Int? {
        state.withLock { $0.metricsEndpoint?.port }
    }

    /// Binds the socket (replacing a stale socket file, refusing to displace a live server)
    /// and the metrics endpoint.
    public func start() async throws {
        try configuration.validate()
        let path = configuration.socketPath
        if await Self.someoneListens(at: path, group: group) {
            throw StatusServerError(description: "another server is already listening on \(path)")
        }
        let maxLineBytes = configuration.maxLineBytes
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(NDJSONLineDecoder(maxLineBytes: maxLineBytes)),
                            SessionHandler(server: self))
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
                .get()
        } catch {
            throw StatusServerError(description: "cannot listen on \(path): \(error)")
        }
        guard chmod(path, configuration.socketMode) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await listener.close()
            throw StatusServerError(description: "cannot set mode \(String(configuration.socketMode, radix: 8)) on \(path): \(reason)")
        }
        state.withLock { $0.listener = listener }
        logger.info("status server listening", metadata: ["socket": "\(path)"])

        if let port = configuration.metricsPort {
            let host = configuration.metricsHost
            do {
                let endpoint = try await MetricsEndpoint.bind(host: host, port: port, registry: registry, group: group)
                state.withLock { $0.metricsEndpoint = endpoint }
                logger.info("metrics endpoint listening", metadata: ["address": "\(host):\(endpoint.port ?? port)"])
            } catch {
                await stop()
                throw StatusServerError(description: "cannot serve metrics on \(host):\(port): \(error)")
            }
        }
    }

    /// Stops listening, tells every client and closes it, removes the socket file.
    public func stop() async {
        let (listener, metricsEndpoint, sessions) = state.withLock { s in
            s.stopping = true
            defer {
                s.listener = nil
                s.metricsEndpoint = nil
            }
            return (s.listener, s.metricsEndpoint, Array(s.sessions.values))
        }
        try? await listener?.close()
        await metricsEndpoint?.close()
        if listener != nil { unlink(configuration.socketPath) }
        for session in sessions { session.drop(reason: "server stopping") }
        // Each dropped client is closed within the drop grace period.
        for session in sessions { try? await session.closeFuture.get() }
    }

    // MARK: Sessions (called on the connection's event loop)

    fileprivate func admit(_ channel: any Channel) -> ClientSession? {
        let session = ClientSession(channel: channel, context: context)
        let admitted = state.withLock { s -> Bool in
            guard !s.stopping, s.sessions.count < configuration.maxClients else { return false }
            s.sessions[ObjectIdentifier(channel)] = session
            return true
        }
        guard admitted else {
            context.metrics.clientsRefused.increment()
            session.refuse("too many clients (limit \(configuration.maxClients)) or server stopping; try again later")
            return nil
        }
        context.metrics.clientsConnected.record(sessionCount)
        session.start()
        return session
    }

    fileprivate func remove(_ channel: any Channel) {
        state.withLock { _ = $0.sessions.removeValue(forKey: ObjectIdentifier(channel)) }
        context.metrics.clientsConnected.record(sessionCount)
    }

    private var sessionCount: Int { state.withLock { $0.sessions.count } }

    private static func someoneListens(at path: String, group: any EventLoopGroup) async -> Bool {
        guard access(path, F_OK) == 0 else { return false }
        do {
            let channel = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}

/// Connects a socket connection to its session.
private final class SessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let server: StatusServer
    private var session: ClientSession?

    init(server: StatusServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        session = server.admit(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session?.receive(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            session?.inputClosed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let session, error is LineTooLongError {
            session.reject("\(error); the connection is closed")
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session {
            session.closed()
            server.remove(context.channel)
        }
        session = nil
        context.fireChannelInactive()
    }
}
