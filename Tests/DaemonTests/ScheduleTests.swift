import BenchCore
import Foundation
import StatusServer
import Storage
import Testing

/// A real cellbenchd driving the protocol-true simulated cycler of `cellbench simulate`
/// (Modbus TCP on loopback) through the reference driver file, with a schedule on channel C01.
final class ScheduleBench: @unchecked Sendable {
    let folder: String
    let daemon: DaemonProcess
    private let simulator: Process

    static var cellbench: String {
        URL(fileURLWithPath: DaemonProcess.executable).deletingLastPathComponent().appendingPathComponent("cellbench").path
    }

    /// `schedule` is the text of C01's schedule file; nil starts the daemon with no schedule configured.
    /// With `analyzer`, a simulated analyzer on a pseudo-terminal is wired to C01 for impedance steps.
    init(schedule: String?, analyzer: Bool = false) throws {
        folder = NSTemporaryDirectory() + "cellbench-schedule-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let drivers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("drivers").path
        let port = Int.random(in: 20_000...40_000)
        try """
            time_scale = 1
            [cycler]
            channels = 2
            capacity_ah = 3.0
            tcp_port = \(port)
            \(analyzer ? "[analyzer]\nlink = \"fra\"\ncapacity_ah = 3.0\nsoc = 0.5" : "")
            """.write(toFile: folder + "/simulator.toml", atomically: true, encoding: .utf8)
        simulator = Process()
        simulator.executableURL = URL(fileURLWithPath: Self.cellbench)
        simulator.arguments = ["simulate", "--config", folder + "/simulator.toml"]
        simulator.standardOutput = FileHandle.nullDevice
        try simulator.run()
        for _ in 0..<100 where analyzer && !FileManager.default.fileExists(atPath: folder + "/fra") { usleep(50_000) }
        if let schedule { try schedule.write(toFile: folder + "/schedule.toml", atomically: true, encoding: .utf8) }
        // The instrument watchdog is off: the test restarts the daemon and wants the channel as it was.
        daemon = try DaemonProcess(configText: """
            [store]
            path = "bench.db"
            [status]
            socket = "bench.sock"
            [[instruments]]
            name = "cycler"
            kind = "cycler"
            driver = "\(drivers)/reference-cycler.toml"
            host = "127.0.0.1"
            port = \(port)
            record_interval_s = 0.2
            poll_interval_s = 0.1
            watchdog_s = 0
            reconnect_initial_s = 0.1
            reconnect_max_s = 0.5
            [instruments.protection]
            voltage_high_v = 4.25
            voltage_low_v = 2.7
            current_a = 6
            temperature_c = 55
            [[channels]]
            name = "C01"
            instrument = "cycler"
            index = 0
            capacity_ah = 3.0
            \(schedule == nil ? "" : "schedule = \"schedule.toml\"")
            \(analyzer ? "analyzer = \"fra\"" : "")
            \(analyzer ? Self.analyzerTables(drivers: drivers) : "")
            """, folder: folder)
    }

    static func analyzerTables(drivers: String) -> String {
        """
        [[instruments]]
        name = "fra"
        kind = "analyzer"
        driver = "\(drivers)/reference-fra.toml"
        serial = "fra"
        poll_interval_s = 0.05
        [[channels]]
        name = "E01"
        instrument = "fra"
        index = 0
        """
    }

    deinit {
        simulator.terminate()
        simulator.waitUntilExit()
    }

    func snapshot() async throws -> StatusSnapshot { try await daemon.snapshot() }

    /// Polls `status` until C01's schedule satisfies `condition`.
    func waitForSchedule(within seconds: Double = 30, _ condition: (ScheduleStatus) -> Bool) async throws -> ScheduleStatus {
        try await daemon.waitForSchedule(of: "C01", within: seconds, condition)
    }

    /// `cellbench ARGS --socket …` as a real process; its standard output and exit status.
    func cli(_ arguments: [String]) throws -> (output: String, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.cellbench)
        p.arguments = arguments + ["--socket", daemon.socketPath]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (text, p.terminationStatus)
    }

    /// C01's position as the store holds it (read by a reader of our own, as after a crash).
    func storedPosition() throws -> (path: [Int], iterations: [Int], state: String) {
        let reader = try StoreReader(path: daemon.storePath)
        let channel = try reader.channel(named: "C01")
        let stored = try #require(try reader.schedules()[channel.id])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stored.positionJSON.utf8)) as? [String: Any])
        return (json["path"] as? [Int] ?? [], json["iterations"] as? [Int] ?? [], json["state"] as? String ?? "")
    }
}

let scheduleSafety = """
    record_interval_s = 0.2
    [safety]
    voltage_high_v = 4.25
    voltage_low_v = 2.7
    current_a = 5
    temperature_c = 55

    """

@Suite(.serialized) struct ScheduleDaemonTests {
    /// The schedule's position survives `kill -9` of cellbenchd: the restarted daemon carries
    /// on in the same step of the same loop iteration, and finishes the loop from there.
    @Test func scheduleResumesAtItsStepAndLoopCounterAfterKill9() async throws {
        let bench = try ScheduleBench(schedule: scheduleSafety + """
            [[steps]]
            name = "cycle"
            type = "loop"
            repeat = 2
              [[steps.steps]]
              name = "charge"
              type = "cc"
              current_a = 1
              end = { time_s = 4 }
              [[steps.steps]]
              name = "relax"
              type = "rest"
              end = { time_s = 4 }
            """)
        try await bench.daemon.start()
        _ = try await bench.waitForSchedule { $0.step == "charge" && $0.loops.first?.iteration == 2 }
        try await Task.sleep(for: .seconds(1))
        bench.daemon.signal(SIGKILL)
        _ = try await bench.daemon.waitForExit()

        let saved = try bench.storedPosition()
        #expect(saved.path == [0, 0] && saved.iterations == [2] && saved.state == "running", "\(saved)")

        // The killed daemon left its socket file behind; wait for the new one.
        try FileManager.default.removeItem(atPath: bench.daemon.socketPath)
        try await bench.daemon.start()
        let resumed = try await bench.waitForSchedule { _ in true }
        #expect(resumed.path == saved.path && resumed.loops.map(\.iteration) == saved.iterations && resumed.state == "running",
                "\(resumed)")
        let finished = try await bench.waitForSchedule { $0.state == "finished" }
        #expect(finished.message == "all steps done")

        // After the restart the schedule only went forward: no step of the first iteration again.
        let reader = try StoreReader(path: bench.daemon.storePath)
        let events = try reader.events().filter { $0.kind.hasPrefix("schedule-") }
        let resumedAt = try #require(events.firstIndex { $0.kind == "schedule-resumed" }, "\(events.map(\.message))")
        let afterwards = events[(resumedAt + 1)...].map(\.message)
        #expect(afterwards.contains { $0.contains("\"relax\" (cycle 2/2)") } && !afterwards.contains { $0.contains("cycle 1/2") },
                "\(afterwards)")
        // The charge steps drove the cell: samples of 1 A into it were stored.
        let samples = try reader.samples(channel: reader.channel(named: "C01").id)
        #expect(samples.contains { abs($0.current - 1) < 1e-3 })
    }

    /// A schedule whose safety limit the cell already breaks (25 °C against 20 °C) is stopped by the
    /// daemon on the first sample, output off, with an event in the store. The channel is already
    /// recording (a first, harmless schedule), so the daemon sees samples whatever the instrument's
    /// own protection (given the same limit) does.
    @Test func safetyBreachStopsTheOutput() async throws {
        let bench = try ScheduleBench(schedule: scheduleSafety + """
            [[steps]]
            type = "rest"
            end = { time_s = 600 }
            """)
        try await bench.daemon.start()
        _ = try await bench.waitForSchedule { $0.state == "running" && $0.stepSeconds > 0.5 }
        try """
            [safety]
            voltage_high_v = 4.25
            voltage_low_v = 2.7
            current_a = 5
            temperature_c = 20
            [[steps]]
            type = "cc"
            current_a = 2
            end = { time_s = 60 }
            """.write(toFile: bench.folder + "/hot.toml", atomically: true, encoding: .utf8)
        let run = try bench.cli(["run", "C01", bench.folder + "/hot.toml"])
        #expect(run.status == 0, "\(run.output)")
        let tripped = try await bench.waitForSchedule { $0.state == "tripped" }
        #expect(tripped.message?.contains("temperature") == true, "\(tripped)")
        try await Task.sleep(for: .seconds(1))
        let reader = try StoreReader(path: bench.daemon.storePath)
        let channel = try reader.channel(named: "C01").id
        #expect(try reader.events(channel: channel).contains { $0.kind == "schedule-safety" && $0.severity == .error })
        let last = try reader.samples(channel: channel).suffix(3)
        #expect(!last.isEmpty && last.allSatisfy { abs($0.current) < 1e-6 }, "output off: \(last.map(\.current))")
        #expect(try bench.storedPosition().state == "tripped")
    }

    /// `cellbench run`, `pause`, `resume` and `stop` over the real socket, each checked against `status`.
    @Test func cliRunPauseResumeStopRoundTrip() async throws {
        let bench = try ScheduleBench(schedule: nil)
        try await bench.daemon.start()
        let steps = """
            [[steps]]
            name = "charge"
            type = "cc"
            current_a = 0.5
            end = { time_s = 600 }
            """
        try (scheduleSafety + "name = \"round trip\"\n" + steps).write(toFile: bench.folder + "/run.toml", atomically: true, encoding: .utf8)
        // `name` after [safety] belongs to it: the CLI refuses the file with its line before sending anything.
        let refused = try bench.cli(["run", "C01", bench.folder + "/run.toml"])
        #expect(refused.status != 0 && refused.output.contains("run.toml:7") && refused.output.contains("safety.name"), "\(refused.output)")
        #expect(try await bench.snapshot().channels[0].schedule == nil)

        try (scheduleSafety.replacingOccurrences(of: "[safety]", with: "name = \"round trip\"\n[safety]") + steps)
            .write(toFile: bench.folder + "/run.toml", atomically: true, encoding: .utf8)
        let run = try bench.cli(["run", "C01", bench.folder + "/run.toml"])
        #expect(run.status == 0 && run.output.contains("C01: round trip: running, step \"charge\""), "\(run.output)")
        _ = try await bench.waitForSchedule { $0.state == "running" && $0.stepSeconds > 0.5 }

        let pause = try bench.cli(["pause", "C01"])
        #expect(pause.status == 0 && pause.output.contains("paused"), "\(pause.output)")
        let paused = try await bench.waitForSchedule { $0.state == "paused" }
        try await Task.sleep(for: .seconds(1))
        #expect(try await bench.waitForSchedule { _ in true }.stepSeconds == paused.stepSeconds, "step time stands still while paused")

        let resume = try bench.cli(["resume", "C01"])
        #expect(resume.status == 0 && resume.output.contains("running"), "\(resume.output)")
        _ = try await bench.waitForSchedule { $0.state == "running" && $0.stepSeconds > paused.stepSeconds }

        let stop = try bench.cli(["stop", "C01"])
        #expect(stop.status == 0 && stop.output.contains("stopped"), "\(stop.output)")
        #expect(try bench.storedPosition().state == "stopped")
        let again = try bench.cli(["stop", "C01"])
        #expect(again.status != 0 && again.output.contains("is stopped"), "\(again.output)")
        let unknown = try bench.cli(["pause", "C99"])
        #expect(unknown.status != 0 && unknown.output.contains("unknown channel"), "\(unknown.output)")
    }

    /// An impedance step puts the cycler channel at rest, runs the analyzer's sweep on the cell (stored
    /// under the cycled channel), then the schedule carries on with the next step.
    @Test func impedanceStepRestsTheChannelSweepsThenContinues() async throws {
        let bench = try ScheduleBench(schedule: scheduleSafety + """
            [[steps]]
            name = "charge"
            type = "cc"
            current_a = 1
            end = { time_s = 2 }
            [[steps]]
            name = "eis"
            type = "eis"
            [steps.sweep]
            start_hz = 1000
            stop_hz = 10
            points_per_decade = 2
            [[steps]]
            name = "discharge"
            type = "cc"
            current_a = -1
            end = { time_s = 2 }
            """, analyzer: true)
        try await bench.daemon.start()
        _ = try await bench.waitForSchedule { $0.step == "eis" && $0.phase == "sweeping" }
        let finished = try await bench.waitForSchedule(within: 60) { $0.state == "finished" }
        #expect(finished.message == "all steps done")
        try await Task.sleep(for: .seconds(0.5))

        let reader = try StoreReader(path: bench.daemon.storePath)
        let channel = try reader.channel(named: "C01").id
        let sweeps = try reader.sweeps(channel: channel)
        #expect(sweeps.count == 1 && sweeps.first?.sweep.status == .complete && sweeps.first?.sweep.points.count == 5,
                "\(sweeps.map { ($0.sweep.status, $0.sweep.points.count) }) \(bench.daemon.log)")
        let events = try reader.events(channel: channel).filter { $0.kind.hasPrefix("schedule-") }.map(\.message)
        let eis = try #require(events.firstIndex { $0.contains("\"eis\"") }, "\(events)")
        #expect(events[(eis + 1)...].contains { $0.contains("\"discharge\"") })
        // During the sweep the cycler channel was at rest.
        if let sweep = sweeps.first?.sweep {
            let during = try reader.samples(channel: channel, from: sweep.started.wallNs + 500_000_000, to: sweep.finished.wallNs)
            #expect(during.allSatisfy { abs($0.current) < 1e-6 }, "\(during.map(\.current))")
        }
    }

    /// The same engine drives a galvanostat (line protocol on a pseudo-terminal): its source follows
    /// the steps, and the output is switched off when the schedule ends.
    @Test func galvanostatFollowsTheSchedule() async throws {
        let folder = NSTemporaryDirectory() + "cellbench-schedule-dc-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let drivers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("drivers").path
        try "time_scale = 1\n[galvanostat]\nlink = \"dc\"\ncapacity_ah = 3.0\nsoc = 0.5\n"
            .write(toFile: folder + "/simulator.toml", atomically: true, encoding: .utf8)
        try (scheduleSafety + """
            [[steps]]
            name = "charge"
            type = "cc"
            current_a = 0.5
            end = { time_s = 2 }
            [[steps]]
            name = "relax"
            type = "rest"
            end = { time_s = 1 }
            """).write(toFile: folder + "/schedule.toml", atomically: true, encoding: .utf8)
        let simulator = Process()
        simulator.executableURL = URL(fileURLWithPath: ScheduleBench.cellbench)
        simulator.arguments = ["simulate", "--config", folder + "/simulator.toml"]
        simulator.standardOutput = FileHandle.nullDevice
        try simulator.run()
        defer { simulator.terminate(); simulator.waitUntilExit() }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: folder + "/dc") { try await Task.sleep(for: .milliseconds(50)) }
        let daemon = try DaemonProcess(configText: DaemonProcess.galvanostatConfiguration(drivers: drivers, serial: "dc", channelExtra: #"schedule = "schedule.toml""#), folder: folder)
        try await daemon.start()
        let finished = try? await daemon.waitForSchedule(of: "G01") { $0.state == "finished" }
        #expect(finished?.state == "finished", "\(daemon.log)")
        try await Task.sleep(for: .seconds(1))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        let reader = try StoreReader(path: daemon.storePath)
        let samples = try reader.samples(channel: reader.channel(named: "G01").id)
        #expect(samples.contains { abs($0.current - 0.5) < 1e-3 }, "the charge step drove 0.5 A")
        #expect(samples.suffix(2).allSatisfy { abs($0.current) < 1e-6 }, "output off at the end: \(samples.suffix(5).map(\.current))")
    }
}
