import Alarms
import BenchCore
import Electrochem
import Estimation
import Fractional
import Schedules
import TOMLConfig

/// The daemon's configuration file (`cellbenchd --config FILE`), validated as a
/// whole before anything is opened: a bad value stops start-up with a message
/// naming file, line and key, and the store is never touched.
public struct BenchConfiguration: Sendable {
    public struct Store: Sendable {
        /// SQLite file; created with its folder when missing.
        public var path: String
        public var batchRows: Int
        public var batchInterval: Duration
    }

    public struct Status: Sendable {
        /// Unix socket of the NDJSON status protocol.
        public var socketPath: String
        /// File mode of the socket, e.g. 0o660.
        public var socketMode: UInt32
        /// Localhost port of Prometheus `/metrics`, or nil when off.
        public var metricsPort: Int?
    }

    public struct Instrument: Sendable {
        public var name: String
        public var kind: String
        /// The instrument's own table, validated by the instrument kind that reads it.
        public var table: ConfigTable
    }

    public struct Channel: Sendable {
        public var info: ChannelInfo
        public var table: ConfigTable
        /// Equivalent circuit every completed sweep of this channel is fitted to.
        public var circuit: String
        /// Variant of the `li-ion` circuit the inverse model and its polish fit.
        public var inverseVariant: VariantChoice
        /// Cell model file (TOML) for the online SOC observer, resolved against the configuration's folder.
        public var cellFile: String?
        /// Observer run on the cell model.
        public var observer: SOCObserver.Method
        /// Schedule started on this channel at daemon start when the store holds none for it.
        public var schedule: ScheduleSource?
        /// Analyzer wired to this channel's cell, for the impedance steps of its schedules.
        public var analyzer: String?
        /// Whether the observer adopts the cell model mapped from each new impedance fit of the channel.
        public var adoptSweepFits: Bool
        /// Observer tuning: the considered model errors (`ocv_sigma_v`, `resistance_sigma_ohm`) widen the reported σ.
        public var observerTuning = FilterTuning()
    }

    /// Circuit fitted to sweeps of channels that name none: inductance, series
    /// resistance, two R‖CPE arcs and a Warburg tail.
    public static let defaultCircuit = "L0-R0-p(R1,CPE1)-p(R2,CPE2)-W1"

    public var file: String
    public var store: Store
    public var status: Status
    public var logLevel: String
    /// Seconds between published observer estimates of a channel.
    public var estimateInterval: Double
    public var instruments: [Instrument]
    public var channels: [Channel]
    /// `[alarms]` rules and `[[cohorts]]` (see docs/alarms.md).
    public var alarms: AlarmConfiguration

    /// Reads and validates a configuration file.
    public static func load(path: String) throws(ConfigError) -> BenchConfiguration {
        try BenchConfiguration(document: ConfigDocument(contentsOf: path))
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        let root = document.root
        file = document.file
        try root.rejectUnknownKeys(["store", "status", "daemon", "analysis", "instruments", "channels", "alarms", "cohorts"])

        let storeTable = try root.table("store")
        try storeTable.rejectUnknownKeys(["path", "batch_rows", "batch_interval_s"])
        store = Store(
            path: storeTable.resolvePath(try storeTable.string("path")),
            batchRows: try storeTable.int("batch_rows", in: 1...1_000_000, default: 4096),
            batchInterval: .milliseconds(Int64(1000 * (try storeTable.double("batch_interval_s", in: 0.001...10, default: 0.05)))))

        let statusTable = try root.table("status")
        try statusTable.rejectUnknownKeys(["socket", "socket_mode", "metrics_port"])
        let modeText = try statusTable.optionalString("socket_mode") ?? "0660"
        guard let mode = UInt32(modeText, radix: 8), mode <= 0o777 else {
            throw statusTable.error("socket_mode", "'\(modeText)' is not an octal file mode such as \"0660\"")
        }
        status = Status(
            socketPath: statusTable.resolvePath(try statusTable.string("socket")),
            socketMode: mode,
            metricsPort: try statusTable.optionalInt("metrics_port").map { port throws(ConfigError) in
                guard (1...65535).contains(port) else { throw statusTable.error("metrics_port", "port \(port) is outside 1...65535") }
                return port
            })

        let daemonTable = try root.optionalTable("daemon")
        try daemonTable?.rejectUnknownKeys(["log_level"])
        logLevel = try daemonTable?.choice("log_level", Dictionary(uniqueKeysWithValues: Self.logLevels.map { ($0, $0) }), default: "info") ?? "info"

        let analysisTable = try root.optionalTable("analysis")
        try analysisTable?.rejectUnknownKeys(["circuit", "inverse_variant", "estimate_interval_s"])
        estimateInterval = try analysisTable?.double("estimate_interval_s", in: 0.01...3600, default: 1) ?? 1
        let benchCircuit = try analysisTable.map { t throws(ConfigError) in try Self.circuit(t, "circuit") } ?? nil
        let benchVariant = try analysisTable.map { t throws(ConfigError) in try Self.inverseVariant(t, circuit: benchCircuit) } ?? nil

        var instrumentNames = Set<String>()
        instruments = []
        for table in try root.tables("instruments") {
            let name = try table.string("name")
            guard instrumentNames.insert(name).inserted else { throw table.error("name", "instrument '\(name)' is defined twice") }
            instruments.append(Instrument(name: name, kind: try table.string("kind"), table: table))
            // A simulated cohort runs on its own simulated clock, which the alarm engine then follows.
            if instruments.count > 1, instruments.contains(where: { $0.kind == "simulated-cohort" }) {
                throw table.error("kind", "a bench with a simulated-cohort instrument has no other instrument")
            }
        }

        var channelNames = Set<String>()
        var positions = Set<String>()
        channels = []
        for (index, table) in try root.tables("channels").enumerated() {
            try table.rejectUnknownKeys(["name", "instrument", "index", "capacity_ah", "circuit", "inverse_variant", "cell", "observer", "schedule", "analyzer",
                                        "adopt_sweep_fits", "ocv_sigma_v", "resistance_sigma_ohm"])
            let name = try table.string("name")
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw table.error("name", "channel names use letters, digits, '-', '_' and '.' only")
            }
            guard channelNames.insert(name).inserted else { throw table.error("name", "channel '\(name)' is defined twice") }
            let instrument = try table.string("instrument")
            guard instrumentNames.contains(instrument) else {
                throw table.error("instrument", "no instrument named '\(instrument)' (defined: \(instrumentNames.sorted().joined(separator: ", ")))")
            }
            let position = try table.int("index", in: 0...4095)
            guard positions.insert("\(instrument)#\(position)").inserted else {
                throw table.error("index", "channel \(position) of '\(instrument)' is already assigned")
            }
            let capacity = try table.double("capacity_ah", in: 0...100_000, default: 0)
            let circuit = try Self.circuit(table, "circuit") ?? benchCircuit ?? Self.defaultCircuit
            channels.append(Channel(
                info: ChannelInfo(id: ChannelID(index), name: name, instrument: instrument, instrumentChannel: position, ratedCapacityAh: capacity),
                table: table,
                circuit: circuit,
                inverseVariant: try Self.inverseVariant(table, circuit: circuit) ?? benchVariant ?? .fixed(.full),
                cellFile: try table.optionalString("cell").map(table.resolvePath),
                observer: try table.choice("observer", Dictionary(uniqueKeysWithValues: SOCObserver.Method.allCases.map { ($0.rawValue, $0) }),
                                           default: .foekf),
                schedule: try Self.schedule(table, capacityAh: capacity),
                analyzer: try Self.analyzer(table, instruments: instruments),
                adoptSweepFits: try table.optionalBool("adopt_sweep_fits") ?? true))
            channels[channels.count - 1].observerTuning.ocvSigma = try table.double("ocv_sigma_v", in: 0...1, default: 0)
            channels[channels.count - 1].observerTuning.resistanceSigma = try table.double("resistance_sigma_ohm", in: 0...10, default: 0)
            if table.contains("schedule") || table.contains("analyzer"),
               let kind = instruments.first(where: { $0.name == instrument })?.kind, !Self.sourceKinds.contains(kind) {
                throw table.error(table.contains("schedule") ? "schedule" : "analyzer",
                                  "schedules run on cycler and galvanostat channels; '\(instrument)' is a \(kind)")
            }
        }
        guard !channels.isEmpty else { throw root.error(nil, "no [[channels]] defined: the bench has nothing to measure") }
        alarms = try AlarmConfiguration(alarms: root.optionalTable("alarms"), cohorts: root.tables("cohorts"), channels: channels.map(\.info))
    }

    /// A circuit string, checked by the impedance engine's parser so a typo is a start-up error.
    static func circuit(_ table: ConfigTable, _ key: String) throws(ConfigError) -> String? {
        guard let text = try table.optionalString(key) else { return nil }
        do {
            _ = try Circuit(text)
        } catch {
            throw table.error(key, "invalid \(error)")
        }
        return text
    }

    /// The `inverse_variant` key (`auto` or switches such as `inductor,no-loop,arcs=2,warburg`);
    /// it applies to the `li-ion` circuit only.
    static func inverseVariant(_ table: ConfigTable, circuit: String?) throws(ConfigError) -> VariantChoice? {
        guard let text = try table.optionalString("inverse_variant") else { return nil }
        guard let circuit, (try? Circuit(circuit))?.description == InverseModel.circuit.description else {
            throw table.error("inverse_variant", "applies to circuit = \"\(LiIonFamily.circuitName)\" only")
        }
        do {
            return try VariantChoice(parsing: text)
        } catch {
            throw table.error("inverse_variant", "\(error)")
        }
    }

    /// Instrument kinds whose channels can run schedules.
    static let sourceKinds: Set<String> = ["cycler", "galvanostat"]

    /// The channel's `schedule` file, read and checked now so that a mistake in it stops start-up.
    static func schedule(_ table: ConfigTable, capacityAh: Double) throws(ConfigError) -> ScheduleSource? {
        guard let path = try table.optionalString("schedule").map(table.resolvePath) else { return nil }
        let source = try ScheduleSource.load(path: path)
        do {
            _ = try ScheduleEngine(schedule: source.schedule, ratedCapacityAh: capacityAh)
        } catch {
            throw table.error("schedule", "\(error)")
        }
        return source
    }

    /// The channel's `analyzer`: an analyzer instrument that sweeps only on request.
    static func analyzer(_ table: ConfigTable, instruments: [Instrument]) throws(ConfigError) -> String? {
        guard let name = try table.optionalString("analyzer") else { return nil }
        guard let instrument = instruments.first(where: { $0.name == name }), instrument.kind == "analyzer" else {
            throw table.error("analyzer", "no analyzer instrument named '\(name)'")
        }
        if instrument.table.contains("sweep_interval_s") {
            throw table.error("analyzer", "'\(name)' sweeps on its own (sweep_interval_s); an analyzer used by schedules sweeps on request only")
        }
        return name
    }

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Channels measured by one instrument, in index order.
    public func channels(of instrument: String) -> [Channel] {
        channels.filter { $0.info.instrument == instrument }.sorted { $0.info.instrumentChannel < $1.info.instrumentChannel }
    }
}
