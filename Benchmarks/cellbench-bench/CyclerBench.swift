import ArgumentParser
import BenchCore
import Foundation
import Instruments

/// Cycler acquisition over Modbus TCP against a simulator in another process
/// (`cellbench simulate`): records sustained without loss, record-to-commit
/// latency, the CPU this process (the driver side) uses, and catch-up after an outage.
struct CyclerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cycler", abstract: "Cycler over Modbus TCP: loss, latency, CPU, catch-up.")

    @Option(help: "Port of the simulated cycler (cellbench simulate).") var port = 5020
    @Option(help: "Channels to read.") var channels = 32
    @Option(help: "Record interval, s.") var interval = 0.1
    @Option(help: "Seconds to measure.") var seconds = 30.0
    @Option(help: "Seconds the reader stays away before the catch-up measurement (0: none).") var outage = 0.0
    @Option(help: "Driver file.") var driver = "drivers/reference-cycler.toml"

    func run() async throws {
        guard case .modbus(let map) = try DriverDefinition.load(path: driver).body else { throw ValidationError("\(driver) is not a Modbus driver") }
        let limits = ProtectionLimits(voltageHigh: 4.4, voltageLow: 2.0, current: 10, temperature: 80)
        let configs = (0..<channels).map {
            CyclerChannelConfig(channel: ChannelID($0), index: $0, protection: limits, recordInterval: interval, watchdog: 0)
        }
        let watermarks = CommitWatermarks()
        var streams = BenchStreams()
        var session = Session(map: map, port: port, configs: configs, streams: streams, watermarks: watermarks)
        // Rest keeps the cells where they are for any length of run; records are taken all the same.
        for c in configs { try await session.driver.apply(.rest, channel: c.channel) }
        // Warm-up: connect, drain what accumulated, settle; not counted.
        _ = await session.measure(seconds: 3, from: .oldest)
        let measured = await session.measure(seconds: seconds, from: .next)
        await session.stop()
        print(String(format: "cycler: %d channels x %.1f records/s for %.0f s: %d records, %d missing, %d gap events",
                     channels, 1 / interval, seconds, measured.records, measured.missing, measured.gaps))
        print(String(format: "cycler: record-to-commit latency p50 %.1f ms, p99 %.1f ms; driver-side CPU %.1f %% of one core",
                     measured.p50 * 1000, measured.p99 * 1000, measured.cpu * 100))
        guard outage > 0 else { return }
        try await Task.sleep(for: .seconds(outage))
        streams = BenchStreams()
        session = Session(map: map, port: port, configs: configs, streams: streams, watermarks: watermarks)
        let caughtUp = await session.catchUp()
        await session.stop()
        print(String(format: "cycler: after %.0f s away, caught up with %d records in %.1f s (%d missing)", outage, caughtUp.records, caughtUp.seconds, caughtUp.missing))
    }

    struct Measured { var records = 0, missing = 0, gaps = 0; var p50 = 0.0, p99 = 0.0, cpu = 0.0 }

    /// A driver and a consumer that commits each sample as soon as it reads it (no database: the driver path alone).
    struct Session {
        let driver: CyclerDriver
        let bus: ModbusBus
        let streams: BenchStreams
        let watermarks: CommitWatermarks
        let running: Task<Void, any Error>

        init(map: CyclerMap, port: Int, configs: [CyclerChannelConfig], streams: BenchStreams, watermarks: CommitWatermarks) {
            bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: port))
            driver = CyclerDriver(name: "bench", map: map, bus: bus, unit: 1, channels: configs, pollInterval: 0.05)
            self.streams = streams
            self.watermarks = watermarks
            let driver = self.driver
            running = Task { try await driver.run(streams: streams, watermarks: watermarks) }
        }

        /// Reads and commits for `seconds`; returns counts, latency percentiles and CPU share.
        func measure(seconds: Double, from start: RingCursor.Start) async -> Measured {
            var cursor = streams.samples.makeCursor(at: start)
            var batch: [Sample] = []
            var latencies: [Double] = []
            var last: [ChannelID: UInt64] = [:]
            var m = Measured()
            let cpu0 = Self.cpuSeconds(), wall0 = BenchClock.monotonicNs()
            let end = wall0 + Int64(seconds * 1e9)
            while BenchClock.monotonicNs() < end {
                streams.samples.read(&cursor, into: &batch)
                let now = BenchClock.wallNs()
                for s in batch {
                    watermarks.advance(s.channel, to: s.sequence)
                    latencies.append(Double(now - s.time.wallNs) / 1e9)
                    if let previous = last[s.channel], s.sequence != previous + 1 { m.missing += Int(s.sequence &- previous &- 1) }
                    last[s.channel] = s.sequence
                }
                m.records += batch.count
                if batch.isEmpty { try? await Task.sleep(for: .milliseconds(5)) }
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

        /// Reads until every channel's window is drained (a poll returns records younger than one interval).
        func catchUp() async -> (records: Int, seconds: Double, missing: Int) {
            let start = BenchClock.monotonicNs()
            var cursor = streams.samples.makeCursor(at: .oldest)
            var batch: [Sample] = []
            var last: [ChannelID: UInt64] = [:]
            var records = 0, missing = 0
            var fresh = Set<ChannelID>()
            while fresh.count < driver.channels.count && BenchClock.monotonicNs() - start < 600_000_000_000 {
                streams.samples.read(&cursor, into: &batch)
                let now = BenchClock.wallNs()
                for s in batch {
                    watermarks.advance(s.channel, to: s.sequence)
                    if let previous = last[s.channel], s.sequence != previous + 1 { missing += Int(s.sequence &- previous &- 1) }
                    last[s.channel] = s.sequence
                    if now - s.time.wallNs < 1_000_000_000 { fresh.insert(s.channel) }
                }
                records += batch.count
                if batch.isEmpty { try? await Task.sleep(for: .milliseconds(5)) }
            }
            return (records, Double(BenchClock.monotonicNs() - start) / 1e9, missing)
        }

        func stop() async {
            running.cancel()
            _ = try? await running.value
            await bus.shutdown()
        }

        static func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
    }
}
