#if canImport(Glibc)
import Glibc
#endif
import BenchCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Synchronization
import Testing
@testable import StatusServer

/// An in-memory implementation of the provider contract: fixed channels, a
/// fixed snapshot and a list of "stored" records filtered like a store would.
struct FixtureProvider: StatusProvider {
    static let channelList = [
        ChannelInfo(id: ChannelID(0), name: "A01", instrument: "cycler-1", instrumentChannel: 0, ratedCapacityAh: 2.5),
        ChannelInfo(id: ChannelID(1), name: "B02", instrument: "cycler-1", instrumentChannel: 1, ratedCapacityAh: 2.5),
    ]
    /// Queries on this channel fail, to exercise error replies.
    static let brokenChannel = ChannelInfo(id: ChannelID(9), name: "Z99", instrument: "cycler-2", instrumentChannel: 0)

    var stored: [HistoryRecord] = []
    var snapshotValue = StatusSnapshot(
        time: 1_763_700_000, uptime: 3600,
        channels: [
            ChannelStatus(name: "A01", instrument: "cycler-1", state: "cc-charge",
                          latest: SampleFields(Sample(channel: ChannelID(0), sequence: 41,
                                                      time: Timestamp(monotonicNs: 5_000_000_000, wallNs: 1_763_699_999_000_000_000),
                                                      voltage: 3.71, current: 1.25, temperature: 24.5, charge: 0.8),
                                               channel: "A01"),
                          soc: 0.42),
            ChannelStatus(name: "B02", instrument: "cycler-1", state: "idle", latest: nil),
        ],
        instruments: [
            InstrumentStatus(name: "cycler-1", link: "up"),
            InstrumentStatus(name: "cycler-2", link: "down", lastError: "no reply to *IDN? within 0.5 s on /dev/ttyUSB1",
                             lastErrorTime: 1_763_699_000),
        ],
        counters: ["samples_ingested": 12345, "gaps": 2],
        storeLag: StoreLag(pendingRecords: 17, seconds: 0.25))

    func snapshot() async -> StatusSnapshot { snapshotValue }

    func channels() -> [ChannelInfo] { Self.channelList + [Self.brokenChannel] }

    func history(_ q: HistoryQuery) async throws -> [HistoryRecord] {
        if q.channel == Self.brokenChannel.id {
            throw StatusClientError(description: "store unreadable: disk I/O error")
        }
        let matching = stored.filter { r in
            let (kind, channel, time): (StreamKind, ChannelID?, Double) = switch r {
            case .sample(let s): (.samples, s.channel, s.time.wallSeconds)
            case .sweep(let s): (.sweeps, s.channel, s.started.wallSeconds)
            case .estimate(let e): (.estimates, e.channel, e.time.wallSeconds)
            case .alarm(let a): (.alarms, a.channel, a.raised.wallSeconds)
            case .event(let e): (.events, e.channel, e.time.wallSeconds)
            }
            return kind == q.stream && (q.channel == nil || channel == q.channel)
                && time >= (q.from ?? -.infinity) && time <= (q.to ?? .infinity)
        }
        return Array(matching.prefix(q.limit))
    }
}

func sample(_ channel: Int, _ sequence: UInt64, wall: Double = 1_763_700_000) -> Sample {
    Sample(channel: ChannelID(channel), sequence: sequence,
           time: Timestamp(monotonicNs: Int64(sequence) * 1_000_000, wallNs: Int64(wall * 1e9)),
           voltage: 3.0 + Double(sequence) * 1e-4, current: -0.5, temperature: 25, charge: Double(sequence) * 1e-6)
}

/// A running server on a socket in a fresh temporary directory, stopped and
/// cleaned up by `run`.
struct TestServer {
    let server: StatusServer
    let streams: BenchStreams
    let registry: PrometheusCollectorRegistry
    let directory: String
    var socketPath: String { server.configuration.socketPath }

    static func run<R>(
        provider: FixtureProvider = FixtureProvider(),
        streams: BenchStreams = BenchStreams(),
        configure: (inout StatusServerConfiguration) -> Void = { _ in },
        _ body: (TestServer) async throws -> R
    ) async throws -> R {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = StatusServerConfiguration(socketPath: directory + "/status.sock")
        configure(&configuration)
        let registry = PrometheusCollectorRegistry()
        var logger = Logger(label: "cellbench.status.test")
        logger.logLevel = .warning
        let server = StatusServer(configuration: configuration, streams: streams, provider: provider, registry: registry,
                                  logger: logger)
        try await server.start()
        do {
            let result = try await body(TestServer(server: server, streams: streams, registry: registry, directory: directory))
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array((NSTemporaryDirectory() + "/cellbench-status-XXXXXX").utf8CString)
    guard let path = mkdtemp(&template) else {
        throw StatusClientError(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
    }
    return String(cString: path)
}

/// A socket file as a crashed process leaves it: bound, never unlinked, nobody listening.
func makeStaleSocketFile(at path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw StatusClientError(description: "socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        throw StatusClientError(description: "socket path too long: \(path)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else { throw StatusClientError(description: "bind \(path): \(String(cString: strerror(errno)))") }
}

struct Timeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with `Timeout` if it takes longer than `seconds`.
func withTimeout<R: Sendable>(_ seconds: Double, _ what: String,
                              _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: R.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw Timeout(what: what)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw Timeout(what: what) }
        return first
    }
}

/// A byte-level client with no knowledge of the protocol: sends whatever it is
/// told and splits what it receives into lines.
struct RawClient {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending: [UInt8] = []

    enum Address {
        case unix(String)
        case tcp(host: String, port: Int)
    }

    /// Connects, runs `body`, closes.
    static func with<R>(_ address: Address, _ body: (inout RawClient) async throws -> R) async throws -> R {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let wrap: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let channel = switch address {
        case .unix(let path): try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: wrap)
        case .tcp(let host, let port): try await bootstrap.connect(host: host, port: port, channelInitializer: wrap)
        }
        return try await channel.executeThenClose { inbound, outbound in
            var client = RawClient(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&client)
        }
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// The next chunk of bytes, or nil at end of stream (a reset counts as the end).
    private mutating func receive() async -> [UInt8]? {
        do {
            return try await inbound.next().map { Array($0.readableBytesView) }
        } catch {
            return nil
        }
    }

    /// The next line without its newline, or nil at end of stream.
    mutating func line() async -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                defer { pending.removeSubrange(...newline) }
                return String(decoding: pending[..<newline], as: UTF8.self)
            }
            guard let chunk = await receive() else { return nil }
            pending += chunk
        }
    }

    /// Everything until the peer closes.
    mutating func readToEnd() async -> String {
        while let chunk = await receive() { pending += chunk }
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The next line decoded as a protocol message.
    mutating func message() async throws -> ServerMessage? {
        guard let text = await line() else { return nil }
        return try LineEncoding.makeDecoder().decode(ServerMessage.self, from: Data(text.utf8))
    }
}
