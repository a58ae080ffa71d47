import BenchCore
import Instruments
import TOMLConfig

extension Schedule {
    /// Reads and validates a schedule file; errors name file, line and key.
    public static func load(path: String) throws(ConfigError) -> Schedule {
        try Schedule(document: ConfigDocument(contentsOf: path))
    }

    /// Parses schedule text; `file` names it in error messages.
    public init(text: String, file: String) throws(ConfigError) {
        try self.init(document: ConfigDocument(text: text, file: file))
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        let root = document.root
        try root.rejectUnknownKeys(["name", "record_interval_s", "capacity_ah", "safety", "steps"])
        let safety = try DriverFactory.protectionLimits(from: root.table("safety"))
        let baseName = document.file.split(separator: "/").last.map(String.init) ?? document.file
        self.init(name: try root.optionalString("name") ?? baseName,
                  recordInterval: try root.optionalDouble("record_interval_s").map { _ throws(ConfigError) in
                      try root.double("record_interval_s", in: 0.01...3600)
                  },
                  safety: safety,
                  capacityAh: try root.optionalDouble("capacity_ah").map { _ throws(ConfigError) in
                      try root.double("capacity_ah", in: 0.000_001...100_000)
                  },
                  steps: [])
        let reader = StepReader(safety: safety)
        steps = try reader.block(root, path: [], inLoop: false)
    }
}

/// Reads `[[steps]]` tables, checking each setpoint against the safety limits.
private struct StepReader {
    let safety: ProtectionLimits

    static let types = ["rest", "cc", "cv", "cccv", "eis", "loop"]
    static let common: Set<String> = ["name", "type", "end", "soc_after", "every"]
    static let endKeys: Set<String> = ["time_s", "voltage_above_v", "voltage_below_v", "current_below_a", "charge_ah",
                                       "dvdt_below_v_per_s", "dvdt_window_s"]

    func block(_ parent: ConfigTable, path: [Int], inLoop: Bool) throws(ConfigError) -> [Step] {
        let tables = try parent.tables("steps")
        guard !tables.isEmpty else {
            throw parent.error(nil, path.isEmpty ? "no [[steps]]: the schedule does nothing" : "a loop needs at least one step in its [[steps]]")
        }
        var steps: [Step] = []
        for (index, table) in tables.enumerated() {
            steps.append(try step(table, path: path + [index], inLoop: inLoop))
        }
        return steps
    }

    private func step(_ t: ConfigTable, path: [Int], inLoop: Bool) throws(ConfigError) -> Step {
        let type = try t.choice("type", Dictionary(uniqueKeysWithValues: Self.types.map { ($0, $0) }))
        let name = try t.optionalString("name") ?? "\(type) \(path.map { String($0 + 1) }.joined(separator: "."))"
        let every = try t.optionalInt("every").map { _ throws(ConfigError) in try t.int("every", in: 1...1_000_000) }
        if every != nil && !inLoop { throw t.error("every", "'every' counts iterations of an enclosing loop; this step is in none") }
        let socAfter = try t.optionalDouble("soc_after").map { _ throws(ConfigError) in try t.double("soc_after", in: 0...1) }
        let action: Step.Action
        switch type {
        case "rest":
            try t.rejectUnknownKeys(Self.common)
            action = .rest
        case "cc":
            try t.rejectUnknownKeys(Self.common.union(["current_a"]))
            action = .constantCurrent(current: try current(t, "current_a"))
        case "cv":
            try t.rejectUnknownKeys(Self.common.union(["voltage_v", "current_limit_a"]))
            action = .constantVoltage(voltage: try voltage(t, "voltage_v"), currentLimit: abs(try current(t, "current_limit_a")))
        case "cccv":
            try t.rejectUnknownKeys(Self.common.union(["current_a", "voltage_v", "cutoff_a"]))
            let i = try current(t, "current_a")
            let cutoff = try t.double("cutoff_a", in: 0.000_001...10_000)
            guard cutoff < abs(i) else { throw t.error("cutoff_a", "the cut-off current must be below |current_a| = \(abs(i)) A") }
            action = .constantCurrentConstantVoltage(current: i, voltage: try voltage(t, "voltage_v"), cutoff: cutoff)
        case "eis":
            try t.rejectUnknownKeys(Self.common.subtracting(["end"]).union(["at_soc", "soc_current_a", "rest_s", "sweep"]))
            let sweep = try t.optionalTable("sweep").map { s throws(ConfigError) in try DriverFactory.sweepSettings(from: s) } ?? SweepSettings()
            let socCurrent = abs(try t.double("soc_current_a", in: -10_000...10_000, default: 1))
            guard socCurrent > 0, socCurrent <= safety.current else {
                throw t.error("soc_current_a", "must be above 0 and at most the safety current_a = \(safety.current) A")
            }
            action = .impedance(ImpedanceStep(
                sweep: sweep,
                atSOC: try t.optionalDouble("at_soc").map { _ throws(ConfigError) in try t.double("at_soc", in: 0...1) },
                socCurrent: socCurrent,
                restSeconds: try t.double("rest_s", in: 0...86_400 * 365, default: 0)))
        default:
            try t.rejectUnknownKeys(["name", "type", "every", "repeat", "steps"])
            action = .loop(count: try t.int("repeat", in: 1...1_000_000), steps: try block(t, path: path, inLoop: true))
        }
        let end = try endConditions(t)
        switch action {
        case .rest, .constantCurrent, .constantVoltage:
            guard !end.isEmpty else {
                throw t.error(nil, "a \(type) step needs an [end] condition (\(Self.endKeys.subtracting(["dvdt_window_s"]).sorted().joined(separator: ", ")))")
            }
        default: break
        }
        return Step(name: name, action: action, end: end, socAfter: socAfter, every: every)
    }

    private func current(_ t: ConfigTable, _ key: String) throws(ConfigError) -> Double {
        let i = try t.double(key)
        guard abs(i) <= safety.current else { throw t.error(key, "|\(i)| A exceeds the safety current_a = \(safety.current) A") }
        return i
    }

    private func voltage(_ t: ConfigTable, _ key: String) throws(ConfigError) -> Double {
        let v = try t.double(key)
        guard v > safety.voltageLow && v < safety.voltageHigh else {
            throw t.error(key, "\(v) V is outside the safety limits \(safety.voltageLow)...\(safety.voltageHigh) V")
        }
        return v
    }

    private func endConditions(_ t: ConfigTable) throws(ConfigError) -> [EndCondition] {
        guard let e = try t.optionalTable("end") else { return [] }
        try e.rejectUnknownKeys(Self.endKeys)
        var out: [EndCondition] = []
        func value(_ key: String) throws(ConfigError) -> Double? {
            try e.optionalDouble(key).map { _ throws(ConfigError) in try e.double(key, in: 0...1e12) }
        }
        if let v = try value("time_s") { out.append(.time(v)) }
        if let v = try value("voltage_above_v") { out.append(.voltageAbove(v)) }
        if let v = try value("voltage_below_v") { out.append(.voltageBelow(v)) }
        if let v = try value("current_below_a") { out.append(.currentBelow(v)) }
        if let v = try value("charge_ah") { out.append(.charge(v)) }
        if let v = try value("dvdt_below_v_per_s") {
            out.append(.voltageSlopeBelow(v, window: try e.double("dvdt_window_s", in: 0.1...86_400, default: 10)))
        } else if e.contains("dvdt_window_s") {
            throw e.error("dvdt_window_s", "only meaningful with dvdt_below_v_per_s")
        }
        if out.isEmpty { throw e.error(nil, "an [end] table needs at least one condition") }
        return out
    }
}

/// A schedule with the file and text it was read from. The text is kept with a
/// run, so that a restarted daemon carries on even if the file has changed or gone.
public struct ScheduleSource: Sendable {
    public var file: String
    public var text: String
    public var schedule: Schedule

    public init(file: String, text: String) throws(ConfigError) {
        try self.init(document: ConfigDocument(text: text, file: file))
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        file = document.file
        text = document.text
        schedule = try Schedule(document: document)
    }

    public static func load(path: String) throws(ConfigError) -> ScheduleSource {
        try ScheduleSource(document: ConfigDocument(contentsOf: path))
    }
}
