import BenchCore
import Foundation
import Instruments
import Logging
import Simulator
import Storage
import Testing
import TOMLConfig
@testable import Daemon

/// A critical alarm's safe-stop, wired as the daemon wires it, reaching the simulated
/// reference cycler through its Modbus driver over loopback TCP.
@Suite(.serialized) struct SafeStopTests {
    @Test func criticalAlarmStopsTheCyclerChannelThroughItsDriver() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell(), VirtualCell()])
        defer { sim.stop() }
        let folder = NSTemporaryDirectory() + "cellbench-safestop-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let driver = AlarmDaemonTests.repository.appendingPathComponent("drivers/reference-cycler.toml").path
        let config = try BenchConfiguration(document: ConfigDocument(text: """
            [store]
            path = "bench.db"
            [status]
            socket = "bench.sock"
            [[instruments]]
            name = "cycler"
            kind = "cycler"
            driver = "\(driver)"
            host = "127.0.0.1"
            port = \(sim.port)
            record_interval_s = 0.05
            poll_interval_s = 0.05
            [instruments.protection]
            voltage_high_v = 4.3
            voltage_low_v = 2.5
            current_a = 5
            temperature_c = 60
            [[alarms.rule]]
            name = "overcurrent"
            kind = "limit"
            quantity = "current"
            max = 1.5
            severity = "critical"
            action = "safe-stop"
            [[channels]]
            name = "C01"
            instrument = "cycler"
            index = 0
            capacity_ah = 3.0
            [[channels]]
            name = "C02"
            instrument = "cycler"
            index = 1
            capacity_ah = 3.0
            """, file: folder + "/bench.toml"))

        let quiet = Logger(label: "safe-stop-test", factory: { _ in SwiftLogNoOpLogHandler() })
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        let writer = try BatchWriter(path: config.store.path, streams: streams, watermarks: watermarks)
        let channels = try config.channels.map { c in
            try writer.registerChannel(name: c.info.name, instrument: c.info.instrument, instrumentChannel: c.info.instrumentChannel,
                                       ratedCapacityAh: c.info.ratedCapacityAh)
        }
        writer.start()
        let factory = InstrumentFactory(drivers: DriverFactory(logger: quiet))
        let source = try factory.plan(config.instruments[0], channels: channels).make(channels, [:])
        let cycler = try #require(source as? CyclerDriver)
        let alarms = try await AlarmService.make(config: config, channels: channels, sources: [source], streams: streams,
                                                 progress: StoreProgress(writer: writer), logger: quiet)
        var cursor = streams.samples.makeCursor(at: .next)
        let acquisition = Task { try await source.run(streams: streams, watermarks: watermarks) }
        let evaluation = Task { await alarms.engine.run() }

        // C01 charges at 1 A (inside the limit), C02 at 2 A (beyond it): C02 must be stopped, C01 not.
        let (c1, c2) = (channels[0].id, channels[1].id)
        try await retried { try await cycler.apply(.constantCurrent(current: 1), channel: c1) }
        try await retried { try await cycler.apply(.constantCurrent(current: 2), channel: c2) }
        var seen: [Sample] = []
        var batch: [Sample] = []
        var stoppedAt: Int?
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            streams.samples.read(&cursor, into: &batch)
            seen += batch
            if stoppedAt == nil, alarms.engine.openAlarms.contains(where: { $0.channel == c2 }),
               events(streams).contains(where: { $0.kind == "safe-stop" && $0.channel == c2 }) {
                stoppedAt = seen.count
            }
            // Keep reading a while after the stop, to see which channels still record.
            if let stoppedAt, seen[stoppedAt...].filter({ $0.channel == c1 }).count >= 40 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        // The instrument's own state: C02's cell carries no current any more, C01's still does.
        let currents = (sim.cellCurrent(channel: 0), sim.cellCurrent(channel: 1))
        acquisition.cancel()
        evaluation.cancel()
        _ = await acquisition.result
        try await writer.finish()

        let index = try #require(stoppedAt, "no safe-stop event for C02; events: \(events(streams).map(\.message))")
        let c2Before = seen[..<index].filter { $0.channel == c2 }
        #expect(c2Before.contains { abs($0.current - 2) < 1e-6 }, "C02 was charging at 2 A before the stop")
        #expect(currents.1 == 0 && abs(currents.0 - 1) < 1e-6, "cell currents after the stop: C01 \(currents.0) A, C02 \(currents.1) A")
        // A stopped cycler channel stops recording: at most the records already in flight arrive after it.
        let after = seen[index...]
        #expect(after.filter { $0.channel == c2 }.count <= 3, "C02 still recording: \(after.filter { $0.channel == c2 }.map(\.current))")
        #expect(after.filter { $0.channel == c1 }.allSatisfy { abs($0.current - 1) < 1e-6 }, "C01 keeps charging at 1 A")
        #expect(alarms.engine.openAlarms.map(\.channel) == [c2])
    }

    /// The driver may still be connecting: retry a command for up to five seconds.
    private func retried(_ command: () async throws -> Void) async throws {
        for attempt in 1...50 {
            do { return try await command() } catch where attempt < 50 { try await Task.sleep(for: .milliseconds(100)) }
        }
    }

    private func events(_ streams: BenchStreams) -> [BenchEvent] {
        var cursor = streams.events.makeCursor(at: .oldest)
        var out: [BenchEvent] = []
        streams.events.read(&cursor, into: &out)
        return out
    }
}
