import ArgumentParser
import BenchCore
import Foundation
import NIOCore
import NIOPosix
import Prometheus
import StatusServer

/// Status server: samples delivered to one subscriber over the Unix socket, and
/// the acquisition writer's push rate while stuck clients are connected.
struct StatusBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Status socket samples/s to one subscriber; writer rate with stuck clients.")

    @Option(help: "Samples to push (at most the ring capacity, 262144, with --raw so none can be overrun).")
    var records = 200_000
    @Option(help: "Samples/s the writer pushes, in 1 ms bursts (0: as fast as it can).") var rate = 0
    @Option(help: "Clients that subscribe to samples and never read.") var stuck = 0
    @Flag(help: "The subscriber counts raw lines instead of decoding them with StatusClient.") var raw = false

    /// Two named channels, a fixed snapshot and an empty store.
    struct BenchProvider: StatusProvider {
        func snapshot() async -> StatusSnapshot {
            StatusSnapshot(uptime: 0, channels: [], instruments: [], counters: [:], storeLag: StoreLag(pendingRecords: 0, seconds: 0))
        }
        func history(_ query: HistoryQuery) async throws -> [HistoryRecord] { [] }
        func channels() -> [ChannelInfo] {
            [ChannelInfo(id: ChannelID(0), name: "A01", instrument: "bench", instrumentChannel: 0),
             ChannelInfo(id: ChannelID(1), name: "B02", instrument: "bench", instrumentChannel: 1)]
        }
    }

    static let subscribeLine = #"{"op":"subscribe","id":1,"streams":["samples"]}"#

    func run() async throws {
        let directory = NSTemporaryDirectory() + "cellbench-status-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let streams = BenchStreams()
        let server = StatusServer(configuration: StatusServerConfiguration(socketPath: directory + "/status.sock"),
                                  streams: streams, provider: BenchProvider(), registry: PrometheusCollectorRegistry())
        try await server.start()
        let path = server.configuration.socketPath

        let (release, releaseAll) = AsyncStream.makeStream(of: Void.self)
        let stuckChannels = try await (0..<stuck).asyncMap { _ in try await Self.rawSubscriber(path) }
        let stuckClients = Task {
            await withTaskGroup(of: Void.self) { group in
                for channel in stuckChannels {
                    // Subscribed; never reads again.
                    group.addTask { try? await channel.executeThenClose { _, _ in for await _ in release {} } }
                }
            }
        }

        let (writer, start, received, missed): (AsyncStream<Double>, Int64, UInt64, UInt64)
        if raw {
            let channel = try await Self.rawSubscriber(path)
            (writer, start, received) = try await channel.executeThenClose { inbound, _ in
                var lines: UInt64 = 0
                var writer: (AsyncStream<Double>, Int64)?
                for try await chunk in inbound {
                    lines += UInt64(chunk.readableBytesView.lazy.filter { $0 == UInt8(ascii: "\n") }.count)
                    // hello and subscribed came first: from here on every sample is delivered.
                    if writer == nil, lines >= 2 { writer = (startWriter(streams), BenchClock.monotonicNs()) }
                    if lines >= UInt64(records) + 2 { break }
                }
                guard let writer else { throw StatusClientError(description: "no subscription") }
                return (writer.0, writer.1, lines - 2)
            }
            missed = 0
        } else {
            (writer, start, received, missed) = try await StatusClient.withConnection(socketPath: path) { c in
                try await c.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"]))
                _ = try await c.reply(to: .number(1))
                let writer = startWriter(streams), start = BenchClock.monotonicNs()
                var seen: UInt64 = 0, missed: UInt64 = 0
                while seen + missed < UInt64(records), let line = try await c.next() {
                    switch line.message {
                    case .record: seen += 1
                    case .overrun(let o): missed += o.missed
                    default: break
                    }
                }
                return (writer, start, seen, missed)
            }
        }
        let seconds = Double(BenchClock.monotonicNs() - start) / 1e9
        var writerSeconds = 0.0
        for await s in writer { writerSeconds = s }
        releaseAll.finish()
        await server.stop()
        await stuckClients.value

        print("status: \(records) samples offered at \(rate == 0 ? "full speed" : "\(rate)/s"); "
              + "1 \(raw ? "raw" : "StatusClient") subscriber, \(stuck) stuck subscribers")
        print(String(format: "status: writer %.0f samples/s pushed (%.3f s)", Double(records) / writerSeconds, writerSeconds))
        let outcome = received + missed < UInt64(records) ? "DISCONNECTED by the server (queue full)" : "complete"
        print(String(format: "status: subscriber received %llu, overrun %llu, %@; %.0f samples/s delivered (%.3f s)",
                     received, missed, outcome, Double(received) / seconds, seconds))
    }

    /// Pushes `records` samples from a thread of its own, as drivers do; yields the seconds it took.
    private func startWriter(_ streams: BenchStreams) -> AsyncStream<Double> {
        let (done, finished) = AsyncStream.makeStream(of: Double.self)
        let total = UInt64(records), rate = rate
        let perBurst = rate > 0 ? max(1, UInt64(rate / 1000)) : total
        Thread {
            let t0 = BenchClock.monotonicNs()
            var n: UInt64 = 0
            var burst: Int64 = 0
            while n < total {
                for _ in 0..<min(perBurst, total - n) {
                    streams.samples.push(Sample(channel: ChannelID(Int(n % 2)), sequence: n, time: .now(),
                                                voltage: 3.7, current: 1, temperature: 25, charge: 0.5))
                    n += 1
                }
                burst += 1
                let wait = t0 + burst * 1_000_000 - BenchClock.monotonicNs()
                if rate > 0, wait > 0 { usleep(useconds_t(wait / 1000)) }
            }
            finished.yield(Double(BenchClock.monotonicNs() - t0) / 1e9)
            finished.finish()
        }.start()
        return done
    }

    /// A connection that has subscribed to samples and read nothing yet.
    private static func rawSubscriber(_ path: String) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.channel.writeAndFlush(ByteBuffer(string: subscribeLine + "\n"))
        return channel
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
