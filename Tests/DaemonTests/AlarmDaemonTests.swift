import BenchCore
import Foundation
import Simulator
import StatusServer
import Storage
import Testing

/// Alarms through the real `cellbenchd`: its simulated instruments, its store, its socket, and `cellbench`.
@Suite(.serialized) struct AlarmDaemonTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Every alarm as `cellbench alarms --json` lists it (each in its latest stored state).
    static func alarms(_ daemon: DaemonProcess, active: Bool = false) async throws -> [AlarmFields] {
        let result = try await DaemonProcess.cellbench(["alarms", "--json", "--socket", daemon.socketPath] + (active ? ["--active"] : []))
        guard result.status == 0 else { throw DaemonTestError("cellbench alarms failed: \(result.output)\n\(daemon.log)") }
        let decoder = LineEncoding.makeDecoder()
        return try result.output.split(separator: "\n").compactMap { line in
            if case .alarm(let alarm) = try decoder.decode(RecordLine.self, from: Data(line.utf8)) { return alarm }
            return nil
        }
    }

    /// Polls the alarm list once a second until `done` holds or `seconds` pass; returns the last list.
    static func alarms(_ daemon: DaemonProcess, within seconds: Double, until done: ([AlarmFields]) -> Bool) async throws -> [AlarmFields] {
        let deadline = Date().addingTimeInterval(seconds)
        var list = try await alarms(daemon)
        while !done(list) && Date() < deadline {
            try await Task.sleep(for: .seconds(1))
            list = try await alarms(daemon)
        }
        return list
    }

    @Test func acknowledgedAlarmSurvivesSIGTERMAndKillNine() async throws {
        // Every simulated cell is above 2 V: the rule holds from the first sample on and never ends.
        let daemon = try DaemonProcess(channels: 1, rateHz: 10, extra: """
            [[alarms.rule]]
            name = "above-2v"
            kind = "limit"
            quantity = "voltage"
            max = 2.0
            severity = "alarm"
            """)
        try await daemon.start()
        let raised = try await Self.alarms(daemon, within: 15) { !$0.isEmpty }
        try #require(raised.count == 1, "one alarm raised: \(raised) \(daemon.log)")
        let id = raised[0].alarmId
        #expect(raised[0].state == .active && raised[0].channel == "C00" && raised[0].rule == "above-2v")

        let before = Date().timeIntervalSince1970
        let ack = try await DaemonProcess.cellbench(["ack", "\(id)", "--note", "charger checked", "--by", "tech", "--socket", daemon.socketPath])
        let after = Date().timeIntervalSince1970
        #expect(ack.status == 0 && ack.output.contains("alarm \(id) acknowledged by tech"), "\(ack.output)")
        // The list reads the store: wait until the acknowledgement is committed.
        let acknowledged = try await Self.alarms(daemon, within: 10) { $0.first?.state == .acknowledged }
        let stored = try #require(acknowledged.first)
        #expect(stored.acknowledgedBy == "tech" && stored.note == "charger checked")
        let when = try #require(stored.acknowledgedAt)
        #expect(when >= before - 0.001 && when <= after + 0.001, "acknowledged at \(when), asked between \(before) and \(after)")

        func expectSameAlarm(after restart: String) async throws {
            // Let the restarted engine see the condition (still holding) for a while: nothing may be raised again.
            try await Task.sleep(for: .seconds(2))
            let list = try await Self.alarms(daemon)
            #expect(list.count == 1, "\(restart): \(list)")
            let alarm = try #require(list.first)
            #expect(alarm.alarmId == id && alarm.state == .acknowledged && alarm.rule == "above-2v", "\(restart): \(alarm)")
            #expect(alarm.acknowledgedBy == "tech" && alarm.note == "charger checked" && alarm.acknowledgedAt == when, "\(restart): \(alarm)")
            #expect(alarm.raised == stored.raised && alarm.cleared == nil, "\(restart): \(alarm)")
            let active = try await Self.alarms(daemon, active: true)
            #expect(active.map(\.alarmId) == [id], "\(restart)")
            // Acknowledged already: a second acknowledgement is refused by the restarted daemon.
            let again = try await DaemonProcess.cellbench(["ack", "\(id)", "--note", "again", "--socket", daemon.socketPath])
            #expect(again.status != 0, "\(restart): \(again.output)")
        }

        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")
        try await daemon.start()
        try await expectSameAlarm(after: "after SIGTERM")
        #expect(daemon.log.contains("alarm engine ready open_alarms=1"), "the engine reloaded the open alarm: \(daemon.log)")

        daemon.signal(SIGKILL)
        _ = try await daemon.waitForExit()
        try await daemon.start()
        try await expectSameAlarm(after: "after kill -9")
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")
    }

    /// The rules each fault is meant to be caught by (any one suffices), as in examples/cohort-alarms.toml.
    static let intended: [String: Set<String>] = [
        "internal-short": ["self-discharge"], "resistance-growth": ["resistance-growth"], "capacity-fade": ["capacity-fade"],
        "thermal-event": ["heating-rate", "overtemperature"], "loose-contact": ["loose-contact"], "sensor-dropout": ["sensor-dropout"],
    ]

    @Test(.timeLimit(.minutes(2))) func cohortFaultsAreCaughtByTheDaemonAndHealthyCellsStayQuiet() async throws {
        let folder = NSTemporaryDirectory() + "cellbench-cohort-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let rules = try String(contentsOf: Self.repository.appendingPathComponent("examples/cohort-alarms.toml"), encoding: .utf8)
        // Twelve cells, six of them faulty from hour 24 on; 25,000× real time, one sample per 20 simulated seconds.
        let faulty = ["C07": "internal-short", "C08": "resistance-growth", "C09": "capacity-fade",
                      "C10": "thermal-event", "C11": "loose-contact", "C12": "sensor-dropout"]
        var config = DaemonProcess.cohortConfiguration(timeScale: 25000, sampleInterval: 20, onsetHours: 24, faults: faulty) + "\n" + rules + "\n"
        for i in 1...12 {
            config += "[[channels]]\nname = \"C\(String(format: "%02d", i))\"\ninstrument = \"cohort\"\nindex = \(i - 1)\ncapacity_ah = 3.0\n"
        }
        let daemon = try DaemonProcess(configText: config, folder: folder)
        let launched = Date().timeIntervalSince1970
        try await daemon.start()
        func caught(_ list: [AlarmFields]) -> Bool {
            faulty.allSatisfy { channel, fault in
                list.contains { $0.channel == channel && Self.intended[fault]?.contains($0.rule) == true }
            }
        }
        let list = try await Self.alarms(daemon, within: 50, until: caught)
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")

        let healthy = list.filter { $0.channel.map { faulty[$0] == nil } ?? true }
        #expect(healthy.isEmpty, "alarms on healthy cells: \(healthy.map { "\($0.channel ?? "-") \($0.rule): \($0.message)" })")
        for (channel, fault) in faulty.sorted(by: { $0.key < $1.key }) {
            let rules = Set(list.filter { $0.channel == channel }.map(\.rule))
            #expect(!rules.isDisjoint(with: Self.intended[fault] ?? []), "\(fault) on \(channel) raised only \(rules.sorted())")
        }
        // Alarms carry simulated time: none before the faults began (24 simulated hours after the start).
        #expect(list.allSatisfy { $0.raised >= launched + 24 * 3600 }, "\(list.map { ($0.rule, $0.raised - launched) })")
        let reader = try StoreReader(path: daemon.storePath)
        let samples = try reader.samples(channel: try reader.channel(named: "C01").id, limit: Int.max)
        #expect(zip(samples, samples.dropFirst()).allSatisfy { $1.sequence == $0.sequence + 1 }, "no sample lost")
    }

    /// A cell file of the simulator's nominal cell (its OCV curve and circuit, RC branches as R ∥ C).
    static func writeNominalCellFile(in folder: String) throws {
        let p = CellParameters()
        let ocv = p.ocv.map { "\($0.soc),\($0.volts)" }.joined(separator: "\n")
        try "soc,ocv_v\n\(ocv)\n".write(toFile: folder + "/ocv.csv", atomically: true, encoding: .utf8)
        var text = "[cell]\ncapacity_ah = \(p.capacityAh)\nocv = \"ocv.csv\"\n[model]\nr0_ohm = \(p.r0Ohm)\n"
        for b in p.branches { text += "[[model.branch]]\nr_ohm = \(b.rOhm)\nt = \(b.cFarad)\nalpha = 1.0\n" }
        try text.write(toFile: folder + "/cell.toml", atomically: true, encoding: .utf8)
    }

    @Test func innovationRuleFiresFromTheObserverOnAVoltageOffsetOnly() async throws {
        let folder = NSTemporaryDirectory() + "cellbench-innovation-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Self.writeNominalCellFile(in: folder)
        // Two cells with the observer; C02's voltage reading jumps 0.2 V high at hour 4. 3600× real time.
        // The filter takes a lasting offset for a different SOC within minutes, so the rule
        // catches the jump itself: beyond 8σ for a simulated minute.
        let onsetHours = 4.0
        let config = DaemonProcess.cohortConfiguration(timeScale: 3600, sampleInterval: 5, onsetHours: onsetHours, faults: ["C02": "voltage-offset"]) + """
            [analysis]
            estimate_interval_s = 10
            [[alarms.rule]]
            name = "model-mismatch"
            kind = "innovation"
            k = 8
            debounce_s = 60
            severity = "warning"
            [[channels]]
            name = "C01"
            instrument = "cohort"
            index = 0
            capacity_ah = 3.0
            cell = "cell.toml"
            [[channels]]
            name = "C02"
            instrument = "cohort"
            index = 1
            capacity_ah = 3.0
            cell = "cell.toml"
            """
        let daemon = try DaemonProcess(configText: config, folder: folder)
        let launched = Date().timeIntervalSince1970
        try await daemon.start()
        // Until the offset cell's alarm, and at least twelve simulated hours (almost two full cycles of the
        // healthy cell) if the machine keeps pace; a slow machine gets more wall time.
        let started = Date()
        _ = try await Self.alarms(daemon, within: 60) { list in list.contains { $0.rule == "model-mismatch" && $0.channel == "C02" } }
        let remaining = 12 - Date().timeIntervalSince(started)
        if remaining > 0 { try await Task.sleep(for: .seconds(remaining)) }
        let list = try await Self.alarms(daemon)
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")

        let reader = try StoreReader(path: daemon.storePath)
        func worst(_ name: String, from: Double, to: Double) throws -> Double {
            let innovations = try reader.estimates(channel: try reader.channel(named: name).id, quantity: "innovation", limit: Int.max)
            let window = innovations.filter { $0.time.wallSeconds - launched >= from && $0.time.wallSeconds - launched < to }
            return window.map { abs($0.value) / $0.sigma }.max() ?? .nan
        }
        let hours = 3600.0
        let healthy = try reader.samples(channel: try reader.channel(named: "C01").id, limit: Int.max)
        let covered = ((healthy.last?.time.wallSeconds ?? launched) - launched) / hours
        #expect(covered > 6, "the healthy cell ran through a full cycle: \(covered) simulated hours")
        let healthyWorst = try worst("C01", from: 0.5 * hours, to: 24 * hours)
        let faultyWorst = try worst("C02", from: onsetHours * hours, to: (onsetHours + 0.5) * hours)
        let raised = list.filter { $0.rule == "model-mismatch" }
        #expect(raised.contains { $0.channel == "C02" }, "no innovation alarm on the offset cell (largest |innovation|/σ after onset \(faultyWorst)): \(daemon.log)")
        #expect(!raised.contains { $0.channel == "C01" }, "innovation alarm on the healthy cell (largest |innovation|/σ \(healthyWorst)): \(raised)")
        #expect(raised.allSatisfy { $0.raised >= launched + onsetHours * hours }, "raised before the offset began: \(raised)")
        #expect(healthyWorst < 8, "healthy cell's innovation stays within 8σ after the first half hour")
    }
}
