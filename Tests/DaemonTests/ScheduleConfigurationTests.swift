import Foundation
import Testing
import TOMLConfig
@testable import Daemon

/// The `schedule` and `analyzer` keys of `[[channels]]`, checked at start-up.
@Suite final class ScheduleConfigurationTests {
    let folder: String

    init() throws {
        folder = NSTemporaryDirectory() + "cellbench-schedule-config-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    static let safety = """
        [safety]
        voltage_high_v = 4.2
        voltage_low_v = 2.5
        current_a = 3
        temperature_c = 50

        """

    /// A bench of a cycler, an analyzer (with `analyzerExtra` in its table) and a simulator; `channel` is the cycler channel's extra keys.
    private func load(channel: String, schedule: String, analyzerExtra: String = "", capacity: Double = 3) throws -> BenchConfiguration {
        try schedule.write(toFile: folder + "/s.toml", atomically: true, encoding: .utf8)
        let text = """
            [store]
            path = "bench.db"
            [status]
            socket = "bench.sock"
            [[instruments]]
            name = "cycler"
            kind = "cycler"
            [[instruments]]
            name = "fra"
            kind = "analyzer"
            \(analyzerExtra)
            [[instruments]]
            name = "sim"
            kind = "simulator"
            [[channels]]
            name = "C01"
            instrument = "cycler"
            index = 0
            capacity_ah = \(capacity)
            \(channel)
            [[channels]]
            name = "S01"
            instrument = "sim"
            index = 0
            """
        return try BenchConfiguration(document: ConfigDocument(text: text, file: folder + "/bench.toml"))
    }

    private func error(channel: String, schedule: String, analyzerExtra: String = "", capacity: Double = 3) -> ConfigError? {
        do { _ = try load(channel: channel, schedule: schedule, analyzerExtra: analyzerExtra, capacity: capacity); return nil } catch {
            return error as? ConfigError
        }
    }

    @Test func scheduleAndAnalyzerAreReadAndResolvedAgainstTheConfiguration() throws {
        let config = try load(channel: "schedule = \"s.toml\"\nanalyzer = \"fra\"",
                              schedule: Self.safety + "[[steps]]\ntype = \"eis\"\nat_soc = 0.5\n")
        #expect(config.channels[0].schedule?.file == folder + "/s.toml")
        #expect(config.channels[0].schedule?.schedule.steps.count == 1)
        #expect(config.channels[0].analyzer == "fra" && config.channels[1].schedule == nil)
    }

    @Test func mistakesStopStartUpNamingTheFileAndLineAtFault() throws {
        // In the schedule file itself: its own file and line.
        let inFile = try #require(error(channel: "schedule = \"s.toml\"", schedule: Self.safety + "[[steps]]\ntype = \"cc\"\ncurrent_a = 1\n"))
        #expect(inFile.file == folder + "/s.toml" && inFile.line == 6 && inFile.message.contains("needs an [end]"), "\(inFile)")

        let missing = try #require(error(channel: "schedule = \"absent.toml\"", schedule: ""))
        #expect(missing.file == folder + "/absent.toml" && missing.message.contains("cannot read"), "\(missing)")

        // In the configuration: its key.
        let noCapacity = try #require(error(channel: "schedule = \"s.toml\"", schedule: Self.safety + "[[steps]]\ntype = \"eis\"\nat_soc = 0.5\n",
                                            capacity: 0))
        #expect(noCapacity.key == "channels[0].schedule" && noCapacity.message.contains("capacity_ah"), "\(noCapacity)")

        let sweeping = try #require(error(channel: "analyzer = \"fra\"", schedule: "", analyzerExtra: "sweep_interval_s = 600"))
        #expect(sweeping.key == "channels[0].analyzer" && sweeping.message.contains("sweep_interval_s"), "\(sweeping)")

        let notAnAnalyzer = try #require(error(channel: "analyzer = \"sim\"", schedule: ""))
        #expect(notAnAnalyzer.key == "channels[0].analyzer" && notAnAnalyzer.message.contains("no analyzer"), "\(notAnAnalyzer)")
    }

    @Test func schedulesRunOnlyOnSourceChannels() throws {
        try (Self.safety + "[[steps]]\ntype = \"rest\"\nend = { time_s = 1 }\n").write(toFile: folder + "/r.toml", atomically: true, encoding: .utf8)
        let text = """
            [store]
            path = "bench.db"
            [status]
            socket = "bench.sock"
            [[instruments]]
            name = "sim"
            kind = "simulator"
            [[channels]]
            name = "S01"
            instrument = "sim"
            index = 0
            schedule = "r.toml"
            """
        do {
            _ = try BenchConfiguration(document: ConfigDocument(text: text, file: folder + "/bench.toml"))
            Issue.record("a schedule on a simulator channel was accepted")
        } catch {
            #expect(error.key == "channels[0].schedule" && error.line == 12 && error.message.contains("cycler and galvanostat"), "\(error)")
        }
    }
}
