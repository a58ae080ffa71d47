import ArgumentParser
import BenchCore
import Foundation
import Instruments
import Storage

/// Cycler acquisition over Modbus TCP against a simulator in another process
/// (`cellbench simulate`): records sustained without loss, record-to-commit
/// latency, the CPU this process (driver, store writer) uses, and catch-up
/// after an outage. With `--store` the records are committed by the daemon's
/// batch writer into a real SQLite file; without it, a sample counts as
/// committed as soon as it is read (the driver path alone).
struct CyclerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cycler", abstract: "Cycler over Modbus TCP: loss, latency, CPU, catch-up.")

    @Option(help: "Port of the simulated cycler (cellbench simulate).") var port = 5020
    @Option(help: "Channels to read.") var channels = 32
    @Option(help: "Record interval, s.") var interval = 0.1
    @Option(help: "Seconds to measure.") var seconds = 30.0
    @Option(help: "Seconds the link stays down before the catch-up measurement (0: none).") var outage = 0.0
    @Option(help: "Driver file.") var driver = "drivers/reference-cycler.toml"
    @Option(help: "Store file to create (SQLite, WAL, synchronous=FULL); none: commit on read.") var store: String?

    func run() async throws {
        guard case .modbus(let map) = try DriverDefinition.load(path: driver).body else { throw ValidationError("\(driver) is not a Modbus driver") }
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        let writer = try store.map { try BatchWriter(path: $0, streams: streams, watermarks: watermarks) }
        let limits = ProtectionLimits(voltageHigh: 4.4, voltageLow: 2.0, current: 10, temperature: 80)
        let configs = try (0..<channels).map { index in
            let id = try writer?.registerChannel(name: String(format: "C%03d", index), instrument: "bench", instrumentChannel: index).id
            return CyclerChannelConfig(channel: id ?? ChannelID(index), index: index, protection: limits, recordInterval: interval, watchdog: 0,
                                       start: .rest)  // rest keeps the cells where they are for any length of run; records are taken all the same
        }
        writer?.start()
        let committer = Committer(streams: streams, watermarks: watermarks, commitsOnRead: writer == nil)
        var session = Session(map: map, port: port, configs: configs, streams: streams, watermarks: watermarks)
        // Warm-up: connect, drain what accumulated, settle; not counted.
        _ = await committer.measure(seconds: 3)
        let measured = await committer.measure(seconds: seconds)
        print(String(format: "cycler: %d channels x %.1f records/s for %.0f s%@: %d records, %d missing, %d gap events",
                     channels, 1 / interval, seconds, writer == nil ? "" : " into SQLite", measured.records, measured.missing, measured.gaps))
        print(String(format: "cycler: record-to-commit latency p50 %.1f ms, p99 %.1f ms; this process (driver%@) %.1f %% of one core",
                     measured.p50 * 1000, measured.p99 * 1000, writer == nil ? "" : ", store writer", measured.cpu * 100))
        if outage > 0 {
            await session.stop()
            try await Task.sleep(for: .seconds(outage))
            session = Session(map: map, port: port, configs: configs, streams: streams, watermarks: watermarks)
            let caughtUp = await committer.catchUp(channels: configs.count)
            print(String(format: "cycler: after %.0f s with the link down, caught up with %d records in %.1f s (%d missing)",
                         outage, caughtUp.records, caughtUp.seconds, caughtUp.missing))
        }
        await session.stop()
        streams.closeAll()
        if let counters = try await writer?.finish() {
            print("cycler: store holds \(counters.samples) samples in \(counters.batches) batches, \(counters.missed) missed by the writer")
        }
    }

    struct Measured { var records = 0, missing = 0, gaps = 0; var p50 = 0.0, p99 = 0.0, cpu = 0.0 }

    /// A cycler driver on its own Modbus TCP connection.
    struct Session {
        let bus: ModbusBus
        let running: Task<Void, any Error>

        init(map: CyclerMap, port: Int, configs: [CyclerChannelConfig], streams: BenchStreams, watermarks: CommitWatermarks) {
            bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: port))
            let driver = CyclerDriver(name: "bench", map: map, bus: bus, unit: 1, channels: configs, pollInterval: 0.05)
            running = Task { try await driver.run(streams: streams, watermarks: watermarks) }
        }

        func stop() async {
            running.cancel()
            _ = try? await running.value
            await bus.shutdown()
        }
    }

    /// Follows the samples ring: counts records and missing sequence numbers, and times each
    /// record from its instrument time stamp to the moment the commit watermark passes it.
    final class Committer {
        let streams: BenchStreams
        let watermarks: CommitWatermarks
        let commitsOnRead: Bool
        private var cursor: RingCursor
        private var last: [ChannelID: UInt64] = [:]
        /// Read, not yet committed: per channel, (sequence, record wall time in ns), oldest first.
        private var pending: [ChannelID: [(UInt64, Int64)]] = [:]

        init(streams: BenchStreams, watermarks: CommitWatermarks, commitsOnRead: Bool) {
            self.streams = streams
            self.watermarks = watermarks
            self.commitsOnRead = commitsOnRead
            cursor = streams.samples.makeCursor(at: .oldest)
        }

        /// One look at the ring and the watermarks: returns records read, sequence numbers missing,
        /// latencies of the records committed since the last look (s), and the channels with a fresh record.
        private func step(into latencies: inout [Double], fresh: inout Set<ChannelID>) -> (records: Int, missing: Int) {
            var batch: [Sample] = []
            streams.samples.read(&cursor, into: &batch)
            var missing = 0
            for s in batch {
                if commitsOnRead { watermarks.advance(s.channel, to: s.sequence) }
                if let previous = last[s.channel], s.sequence != previous + 1 { missing += Int(s.sequence &- previous &- 1) }
                last[s.channel] = s.sequence
                pending[s.channel, default: []].append((s.sequence, s.time.wallNs))
            }
            let now = BenchClock.wallNs()
            for (channel, queue) in pending {
                let committed = watermarks.committed(channel) ?? 0
                let done = queue.prefix { $0.0 <= committed }
                guard !done.isEmpty else { continue }
                for (_, recorded) in done {
                    latencies.append(Double(now - recorded) / 1e9)
                    if now - recorded < 1_000_000_000 { fresh.insert(channel) }
                }
                pending[channel] = Array(queue.dropFirst(done.count))
            }
            return (batch.count, missing)
        }

        /// Reads and times commits for `seconds`; returns counts, latency percentiles and this process's CPU share.
        func measure(seconds: Double) async -> Measured {
            var latencies: [Double] = []
            var fresh = Set<ChannelID>()
            var m = Measured()
            let cpu0 = Self.cpuSeconds(), wall0 = BenchClock.monotonicNs()
            let end = wall0 + Int64(seconds * 1e9)
            while BenchClock.monotonicNs() < end {
                let (records, missing) = step(into: &latencies, fresh: &fresh)
                m.records += records
                m.missing += missing
                try? await Task.sleep(for: .milliseconds(2))
            }
            m.cpu = (Self.cpuSeconds() - cpu0) / (Double(BenchClock.monotonicNs() - wall0) / 1e9)
            latencies.sort()
            if !latencies.isEmpty {
                m.p50 = latencies[latencies.count / 2]
                m.p99 = latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
            }
            var eventCursor = streams.events.makeCursor(at: .oldest)
            var events: [BenchEvent] = []
            streams.events.read(&eventCursor, into: &events)
            m.gaps = events.filter { $0.kind == "gap" }.count
            return m
        }

        /// Reads until every channel has committed a record younger than a second (the backlog is drained).
        func catchUp(channels: Int) async -> (records: Int, seconds: Double, missing: Int) {
            let start = BenchClock.monotonicNs()
            var latencies: [Double] = []
            var fresh = Set<ChannelID>()
            var records = 0, missing = 0
            while fresh.count < channels && BenchClock.monotonicNs() - start < 600_000_000_000 {
                let step = step(into: &latencies, fresh: &fresh)
                records += step.records
                missing += step.missing
                try? await Task.sleep(for: .milliseconds(2))
            }
            return (records, Double(BenchClock.monotonicNs() - start) / 1e9, missing)
        }

        static func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
    }
}
