import BenchCore
import TOMLConfig

/// A measured or derived per-sample quantity a limit rule can watch.
public enum LimitQuantity: String, Sendable, CaseIterable {
    /// Terminal voltage, V.
    case voltage
    /// Current, A (positive into the cell).
    case current
    /// Cell temperature, °C.
    case temperature
    /// Rate of temperature change over `ChannelFeatures.temperatureRateWindow`, K/s.
    case temperatureRate = "temperature_rate"
    /// Voltage noise at steady current, V rms (a loose contact or failing sense lead).
    case voltageNoise = "voltage_noise"
}

/// A per-cell feature compared across a cohort.
public enum CohortMetric: String, Sendable, CaseIterable {
    /// Capacity lost since the first full discharge, fraction (0.1 = 10 %).
    case capacityFade = "capacity_fade"
    /// Resistance from current steps, relative to the cohort median (0.2 = 20 % above).
    case resistance
    /// Resistance now against the cell's first measured resistance, fraction.
    case resistanceGrowth = "resistance_growth"
    /// Voltage decay at rest, V/s (positive when the voltage falls).
    case selfDischarge = "self_discharge"

    /// Smallest spread assumed for the cohort, so a very uniform cohort does not turn
    /// measurement noise into large scores. In the metric's unit.
    var defaultMinimumSpread: Double {
        switch self {
        case .capacityFade: 0.01
        case .resistance: 0.03
        case .resistanceGrowth: 0.03
        case .selfDischarge: 1e-6
        }
    }
}

/// What a rule watches.
public enum RuleKind: Sendable {
    /// A quantity outside `[low, high]`; clears once back inside by `hysteresis`.
    case limit(LimitQuantity, low: Double?, high: Double?)
    /// A quantity that stops being finite (a sensor reading NaN).
    case sensorDropout([LimitQuantity])
    /// Observer innovation (estimate `innovation`) beyond `k` standard deviations.
    case innovation(k: Double)
    /// Impedance analysis failures: events `kk-failed`, `fit-failed` or `data-quality`.
    case fitFailure
    /// A fitted resistance (estimate `quantity`) changing by more than `relative` between sweeps.
    case resistanceJump(quantity: String, relative: Double)
    /// A cell standing out from its cohort by a robust score (median, MAD).
    case cohort(CohortMetric, score: Double, minimumSpread: Double)
    /// An instrument link down (state from the daemon, or a `link-lost` event).
    case linkLost
    /// No sample from a channel for `timeout` seconds, or a `gap` event.
    case dataGap(timeout: Double)
    /// The store has not committed for `maxSeconds`.
    case storeLag(maxSeconds: Double)

    var name: String {
        switch self {
        case .limit: "limit"
        case .sensorDropout: "sensor-dropout"
        case .innovation: "innovation"
        case .fitFailure: "fit-failure"
        case .resistanceJump: "resistance-jump"
        case .cohort: "cohort"
        case .linkLost: "link-lost"
        case .dataGap: "data-gap"
        case .storeLag: "store-lag"
        }
    }

    /// Rules whose condition concerns the whole bench or an instrument, not a channel.
    var isBenchWide: Bool {
        switch self {
        case .linkLost, .storeLag: true
        default: false
        }
    }
}

/// One configured rule.
public struct AlarmRule: Sendable {
    /// Unique name; it is the `rule` of every alarm it raises.
    public var name: String
    public var kind: RuleKind
    public var severity: Alarm.Severity
    /// Channels watched (all configured channels when the rule names none).
    public var channels: [ChannelID]
    /// How long a condition must hold before it raises, and its end before it clears, s.
    public var debounce: Double
    /// Distance back inside a limit before a limit alarm clears, in the quantity's unit.
    public var hysteresis: Double
    /// Event-raised alarms (fit failure, gap) clear after this long without a new event, s.
    public var clearAfter: Double
    /// Safe-stop the channel when raised (critical rules only).
    public var safeStop: Bool
    /// Program and arguments run with the alarm as JSON on stdin when raised (no shell).
    public var command: [String]?
}

/// The `[alarms]` table and the `[[cohorts]]` it refers to.
public struct AlarmConfiguration: Sendable {
    public var rules: [AlarmRule]
    /// Cohort name → member channels.
    public var cohorts: [String: [ChannelID]]
    /// Notifications (log line and command) per rule and channel per `notifyWindow`.
    public var notifyLimit: Int
    public var notifyWindow: Double
    /// How often cohort scores are recomputed, s of bench time.
    public var cohortInterval: Double
    /// Time limit of a rule's command, s.
    public var commandTimeout: Double

    public init(rules: [AlarmRule] = [], cohorts: [String: [ChannelID]] = [:], notifyLimit: Int = 5,
                notifyWindow: Double = 3600, cohortInterval: Double = 600, commandTimeout: Double = 10) {
        self.rules = rules
        self.cohorts = cohorts
        self.notifyLimit = notifyLimit
        self.notifyWindow = notifyWindow
        self.cohortInterval = cohortInterval
        self.commandTimeout = commandTimeout
    }

    /// The same rules and cohorts with their channels renumbered: the configuration file is
    /// validated before the store exists, and the store then gives the channels their identifiers.
    public func renumbered(_ identifiers: [ChannelID: ChannelID]) -> AlarmConfiguration {
        var copy = self
        for r in copy.rules.indices { copy.rules[r].channels = copy.rules[r].channels.compactMap { identifiers[$0] } }
        copy.cohorts = copy.cohorts.mapValues { $0.compactMap { identifiers[$0] } }
        return copy
    }

    static let kinds = ["limit", "sensor-dropout", "innovation", "fit-failure", "resistance-jump", "cohort",
                        "link-lost", "data-gap", "store-lag"]

    /// Reads `[alarms]` (may be nil: no rules) and `[[cohorts]]` from the configuration root,
    /// resolving channel names against `channels`. Every problem names file, line and key.
    public init(alarms: ConfigTable?, cohorts cohortTables: [ConfigTable], channels: [ChannelInfo]) throws(ConfigError) {
        self.init()
        let byName = Dictionary(channels.map { ($0.name, $0.id) }, uniquingKeysWith: { first, _ in first })
        func resolve(_ names: [String], in table: ConfigTable, key: String) throws(ConfigError) -> [ChannelID] {
            var ids: [ChannelID] = []
            for name in names {
                guard let id = byName[name] else {
                    throw table.error(key, "no channel named '\(name)' (defined: \(channels.map(\.name).joined(separator: ", ")))")
                }
                ids.append(id)
            }
            return ids
        }

        for table in cohortTables {
            try table.rejectUnknownKeys(["name", "channels"])
            let name = try table.string("name")
            guard cohorts[name] == nil else { throw table.error("name", "cohort '\(name)' is defined twice") }
            let members = try resolve(try table.stringArray("channels") ?? [], in: table, key: "channels")
            guard members.count >= 3 else { throw table.error("channels", "a cohort needs at least 3 channels to compare, got \(members.count)") }
            cohorts[name] = members
        }

        guard let alarms else { return }
        try alarms.rejectUnknownKeys(["notify_limit", "notify_window_s", "cohort_interval_s", "command_timeout_s", "rule"])
        notifyLimit = try alarms.int("notify_limit", in: 1...10_000, default: 5)
        notifyWindow = try alarms.double("notify_window_s", in: 1...604_800, default: 3600)
        cohortInterval = try alarms.double("cohort_interval_s", in: 1...86_400, default: 600)
        commandTimeout = try alarms.double("command_timeout_s", in: 0.1...3600, default: 10)

        var names = Set<String>()
        for table in try alarms.tables("rule") {
            let rule = try Self.rule(table, channels: channels, cohorts: cohorts, resolve: resolve)
            guard names.insert(rule.name).inserted else { throw table.error("name", "rule '\(rule.name)' is defined twice") }
            rules.append(rule)
        }
    }

    private static func rule(_ t: ConfigTable, channels: [ChannelInfo], cohorts: [String: [ChannelID]],
                             resolve: ([String], ConfigTable, String) throws(ConfigError) -> [ChannelID]) throws(ConfigError) -> AlarmRule {
        let common: Set<String> = ["name", "kind", "severity", "channels", "cohort", "debounce_s", "action", "command"]
        let kindName = try t.string("kind")
        let kind: RuleKind
        var specific: Set<String> = []
        switch kindName {
        case "limit":
            specific = ["quantity", "min", "max", "hysteresis"]
            let quantity = try t.choice("quantity", Dictionary(uniqueKeysWithValues: LimitQuantity.allCases.map { ($0.rawValue, $0) }))
            let low = try t.optionalDouble("min"), high = try t.optionalDouble("max")
            guard low != nil || high != nil else { throw t.error(nil, "a limit rule needs 'min', 'max' or both") }
            if let low, let high, low >= high { throw t.error("max", "max (\(high)) must be above min (\(low))") }
            kind = .limit(quantity, low: low, high: high)
        case "sensor-dropout":
            specific = ["quantities"]
            let words = try t.stringArray("quantities") ?? ["voltage", "temperature"]
            var quantities: [LimitQuantity] = []
            for word in words {
                guard let q = LimitQuantity(rawValue: word), [.voltage, .current, .temperature].contains(q) else {
                    throw t.error("quantities", "'\(word)' is not one of voltage, current, temperature")
                }
                quantities.append(q)
            }
            kind = .sensorDropout(quantities)
        case "innovation":
            specific = ["k"]
            kind = .innovation(k: try t.double("k", in: 0.5...100, default: 3))
        case "fit-failure":
            specific = ["clear_after_s"]
            kind = .fitFailure
        case "resistance-jump":
            specific = ["quantity", "max_relative", "clear_after_s"]
            kind = .resistanceJump(quantity: try t.optionalString("quantity") ?? "fit.R0",
                                   relative: try t.double("max_relative", in: 0.001...100, default: 0.2))
        case "cohort":
            specific = ["metric", "score", "min_spread"]
            let metric = try t.choice("metric", Dictionary(uniqueKeysWithValues: CohortMetric.allCases.map { ($0.rawValue, $0) }))
            kind = .cohort(metric, score: try t.double("score", in: 1...1000, default: 5),
                           minimumSpread: try t.double("min_spread", in: 0...1e6, default: metric.defaultMinimumSpread))
        case "link-lost":
            kind = .linkLost
        case "data-gap":
            specific = ["timeout_s", "clear_after_s"]
            kind = .dataGap(timeout: try t.double("timeout_s", in: 0.1...86_400, default: 60))
        case "store-lag":
            specific = ["max_s"]
            kind = .storeLag(maxSeconds: try t.double("max_s", in: 0.1...86_400, default: 30))
        default:
            throw t.error("kind", "'\(kindName)' is not one of \(kinds.joined(separator: ", "))")
        }
        try t.rejectUnknownKeys(common.union(specific))

        let name = try t.optionalString("name") ?? kindName
        guard !name.isEmpty else { throw t.error("name", "must not be empty") }
        let severity = try t.choice("severity", Dictionary(uniqueKeysWithValues: Alarm.Severity.allCases.map { ($0.rawValue, $0) }), default: .alarm)

        var members: [ChannelID]
        let listed = try t.stringArray("channels")
        let cohortName = try t.optionalString("cohort")
        if listed != nil, cohortName != nil { throw t.error("cohort", "give either 'channels' or 'cohort', not both") }
        if let cohortName {
            guard let cohort = cohorts[cohortName] else {
                throw t.error("cohort", "no cohort named '\(cohortName)' (defined: \(cohorts.keys.sorted().joined(separator: ", ")))")
            }
            members = cohort
        } else if let listed {
            members = try resolve(listed, t, "channels")
            guard !members.isEmpty else { throw t.error("channels", "must name at least one channel") }
        } else {
            members = channels.map(\.id)
        }
        if case .cohort = kind {
            guard cohortName != nil || members.count >= 3 else {
                throw t.error("cohort", "a cohort rule needs 'cohort' (or at least 3 'channels') to compare cells against")
            }
        }
        if kind.isBenchWide { members = [] }

        let action = try t.optionalString("action")
        if let action, action != "safe-stop" { throw t.error("action", "'\(action)' is not an action; the only action is \"safe-stop\"") }
        if action != nil {
            guard severity == .critical else { throw t.error("action", "only critical rules may safe-stop a channel") }
            guard !kind.isBenchWide else { throw t.error("action", "a \(kindName) rule concerns no single channel to safe-stop") }
        }
        let command = try t.stringArray("command")
        if let command, command.first?.isEmpty ?? true { throw t.error("command", "must name a program as its first element") }

        return AlarmRule(
            name: name, kind: kind, severity: severity, channels: members,
            debounce: try t.double("debounce_s", in: 0...86_400, default: 0),
            hysteresis: try t.double("hysteresis", in: 0...1e9, default: 0),
            clearAfter: try t.double("clear_after_s", in: 1...604_800, default: 600),
            safeStop: action != nil, command: command)
    }
}
