import ArgumentParser
import BenchCore
import Foundation
import Prometheus
import StatusServer

/// Status server: samples delivered to a subscriber over the Unix socket, and
/// the acquisition writer's push rate while stuck clients are connected.
struct StatusBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Status socket records/s to one subscriber; writer rate with stuck clients.")

    @Option(help: "Samples to push.") var records = 1_000_000
    @Option(help: "Clients that subscribe to samples and never read.") var stuck = 0

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

    func run() async throws {
        let directory = NSTemporaryDirectory() + "cellbench-status-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let streams = BenchStreams()
        let server = StatusServer(configuration: StatusServerConfiguration(socketPath: directory + "/status.sock"),
                                  streams: streams, provider: BenchProvider(), registry: PrometheusCollectorRegistry())
        try await server.start()
        let path = server.configuration.socketPath
        let subscribe = StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"])
        let total = UInt64(records)

        let (stuckStream, stuckReady) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseAll) = AsyncStream.makeStream(of: Void.self)
        let stuckClients = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<stuck {
                    group.addTask {
                        try await StatusClient.withConnection(socketPath: path) { c in
                            try await c.send(subscribe)
                            _ = try await c.reply(to: .number(1))
                            stuckReady.yield()
                            for await _ in release {}  // never reads again
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var ready = 0
        for await _ in stuckStream where stuck > 0 {
            ready += 1
            if ready == stuck { break }
        }

        let (seen, missed, writerSeconds, seconds) = try await StatusClient.withConnection(socketPath: path) { c in
            try await c.send(subscribe)
            _ = try await c.reply(to: .number(1))
            let start = BenchClock.monotonicNs()
            let writer = Task.detached { () -> Double in
                let t0 = BenchClock.monotonicNs()
                for n in 0..<total {
                    streams.samples.push(Sample(channel: ChannelID(Int(n % 2)), sequence: n, time: .now(),
                                                voltage: 3.7, current: 1, temperature: 25, charge: 0.5))
                }
                return Double(BenchClock.monotonicNs() - t0) / 1e9
            }
            var seen: UInt64 = 0, missed: UInt64 = 0
            while seen + missed < total, let line = try await c.next() {
                switch line.message {
                case .record: seen += 1
                case .overrun(let o): missed += o.missed
                case .dropped(let d): throw StatusClientError(description: "subscriber dropped: \(d.reason)")
                default: break
                }
            }
            return (seen, missed, await writer.value, Double(BenchClock.monotonicNs() - start) / 1e9)
        }
        releaseAll.finish()
        await server.stop()
        _ = await stuckClients.result

        print("status: \(records) samples, 1 reading subscriber, \(stuck) stuck subscribers")
        print(String(format: "status: writer %.0f samples/s pushed (%.3f s)", Double(records) / writerSeconds, writerSeconds))
        print(String(format: "status: subscriber received %llu, overrun %llu; %.0f samples/s delivered (%.3f s)",
                     seen, missed, Double(seen) / seconds, seconds))
    }
}
