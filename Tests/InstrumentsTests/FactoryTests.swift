import BenchCore
import Foundation
import Instruments
import Simulator
import TOMLConfig
import Testing

@Suite("Instrument configuration", .serialized)
struct FactoryTests {
    func instrument(_ toml: String, channels: Int = 1, file: String = "bench.toml") throws -> any BenchInstrument {
        let document = try ConfigDocument(text: toml, file: file)
        let infos = (0..<channels).map { ChannelInfo(id: ChannelID($0), name: "A0\($0)", instrument: "x", instrumentChannel: $0) }
        return try DriverFactory().make(table: try document.root.table("instrument"), channels: infos)
    }

    func expectError(_ toml: String, key: String, line: Int, channels: Int = 1) {
        do {
            _ = try instrument(toml, channels: channels)
            Issue.record("accepted a bad configuration")
        } catch let error as ConfigError {
            #expect(error.key == key, "\(error)")
            #expect(error.line == line, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    let cycler = """
    [instrument]
    name = "cyc"
    kind = "cycler"
    driver = "\(Repository.driver("reference-cycler.toml"))"
    host = "127.0.0.1"
    port = 15020
    record_interval_s = 0.05
    [instrument.protection]
    voltage_high_v = 4.3
    voltage_low_v = 2.5
    current_a = 5
    temperature_c = 60
    """

    @Test("A valid cycler table makes a cycler driver with the channels assigned")
    func valid() throws {
        let driver = try instrument(cycler, channels: 2)
        #expect(driver.kind == .cycler && driver.channels == [ChannelID(0), ChannelID(1)])
    }

    @Test("Wrong values name their key and line")
    func wrongValues() {
        expectError(cycler.replacingOccurrences(of: "port = 15020", with: "port = 99999"), key: "instrument.port", line: 6)
        expectError(cycler.replacingOccurrences(of: "record_interval_s = 0.05", with: "record_interval_s = 0"), key: "instrument.record_interval_s", line: 7)
        expectError(cycler.replacingOccurrences(of: "voltage_low_v = 2.5", with: "voltage_low_v = 4.5"), key: "instrument.protection.voltage_low_v", line: 10)
        expectError(cycler.replacingOccurrences(of: "kind = \"cycler\"", with: "kind = \"analyzer\""), key: "instrument.driver", line: 4)
        expectError(cycler.replacingOccurrences(of: "host = ", with: "hots = "), key: "instrument.hots", line: 5)
        expectError(cycler + "\n[instrument.start]\nmode = \"cccx\"", key: "instrument.start.mode", line: 14)
        expectError(cycler + "\n[instrument.start]\nmode = \"cc\"\ncurrent_a = 1e6", key: "instrument.start.current_a", line: 15)
        #expect(throws: ConfigError.self) { try instrument(cycler + "\n[instrument.start]\nmode = \"cccv\"\ncurrent_a = 1") }
    }

    @Test("A start setpoint is given to every channel of the cycler")
    func startSetpoint() throws {
        let driver = try #require(try instrument(cycler + "\n[instrument.start]\nmode = \"cc\"\ncurrent_a = -1.5", channels: 2) as? CyclerDriver)
        #expect(driver.channelConfigs.map(\.start) == [.constantCurrent(current: -1.5), .constantCurrent(current: -1.5)])
        #expect(try #require(try instrument(cycler) as? CyclerDriver).channelConfigs.allSatisfy { $0.start == nil })
    }

    @Test("A broken driver file is rejected with its own file and line")
    func brokenDriverFile() throws {
        let path = "\(NSTemporaryDirectory())cellbench-driver-\(getpid()).toml"
        let text = try String(contentsOfFile: Repository.driver("reference-cycler.toml"), encoding: .utf8)
            .replacingOccurrences(of: "stride = 16", with: "stride = \"16\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let line = (text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("stride = \"16\"") } ?? 0) + 1
        do {
            _ = try instrument(cycler.replacingOccurrences(of: Repository.driver("reference-cycler.toml"), with: path))
            Issue.record("accepted a broken driver file")
        } catch let error as ConfigError {
            #expect(error.file == path && error.line == line, "\(error)")
        }
    }

    @Test("A configured cycler talks to the simulator through the real driver")
    func endToEnd() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell(), VirtualCell()], port: 0)
        defer { sim.stop() }
        let driver = try instrument(cycler.replacingOccurrences(of: "port = 15020", with: "port = \(sim.port)"), channels: 2)
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        let cyclerDriver = try #require(driver as? CyclerDriver)
        let samples = try await withRunning(driver, streams: streams, watermarks: watermarks) {
            try await cyclerDriver.apply(.constantCurrentConstantVoltage(current: 2, voltage: 4.1, currentLimit: 2), channel: ChannelID(1))
            try await expectEventually(5) { (watermarks.committed(ChannelID(1)) ?? 0) >= 10 }
        }
        #expect(samples.contains { $0.channel == ChannelID(1) && abs($0.current - 2) < 1e-6 })
    }
}

@Suite("Shipped examples")
struct ExampleTests {
    @Test("Every instrument of examples/demo.toml builds a driver from its shipped driver file")
    func demoExample() throws {
        let document = try ConfigDocument(contentsOf: "\(Repository.root)/examples/demo.toml")
        let channels = try document.root.tables("channels").enumerated().map { index, table in
            ChannelInfo(id: ChannelID(index), name: try table.string("name"), instrument: try table.string("instrument"),
                        instrumentChannel: try table.int("index"))
        }
        let factory = DriverFactory()
        var drivers: [any BenchInstrument] = []
        for table in try document.root.tables("instruments") {
            let name = try table.string("name")
            drivers.append(try factory.make(table: table, channels: channels.filter { $0.instrument == name }))
        }
        #expect(drivers.map(\.kind) == [.cycler, .analyzer, .galvanostat])
        // The cycler's channels are started CC-CV, so that the demo shows data at once.
        let cycler = try #require(drivers.first as? CyclerDriver)
        #expect(cycler.channelConfigs.count == 8)
        #expect(cycler.channelConfigs.allSatisfy {
            $0.start == .constantCurrentConstantVoltage(current: 3, voltage: 4.15, currentLimit: 3) && $0.watchdog == 30
        })
    }
}
