import BenchCore
import Logging
import Synchronization
import TOMLConfig

/// Builds drivers from the daemon's `[[instruments]]` tables.
///
/// Instruments configured on the same serial port are slaves of one RS-485
/// bus: they share one `ModbusBus` (one thread, one open port).
public final class DriverFactory: Sendable {
    private let buses = Mutex<[ModbusEndpoint: ModbusBus]>([:])
    private let logger: Logger

    public static let kinds = InstrumentKind.allCases.map(\.rawValue)

    public init(logger: Logger = Logger(label: "cellbench.instruments")) { self.logger = logger }

    /// A driver for one `[[instruments]]` table and the channels assigned to it.
    /// Errors name the key (and file and line) at fault; a driver file with an
    /// error is rejected with its own file, line and reason.
    public func make(table: ConfigTable, channels: [ChannelInfo]) throws(ConfigError) -> any BenchInstrument {
        let name = try table.string("name")
        let kindName = try table.string("kind")
        guard let kind = InstrumentKind(rawValue: kindName) else {
            throw table.error("kind", "'\(kindName)' is not one of \(Self.kinds.joined(separator: ", "))")
        }
        let driverPath = table.resolvePath(try table.string("driver"))
        let definition: DriverDefinition
        do { definition = try DriverDefinition.load(path: driverPath) } catch let error as ConfigError { throw error } catch {
            throw table.error("driver", "\(error)")
        }
        guard definition.kind == kind else {
            throw table.error("driver", "\(driverPath) describes a \(definition.kind.rawValue), not a \(kind.rawValue)")
        }
        guard !channels.isEmpty else { throw table.error(nil, "instrument '\(name)' has no channel assigned in [[channels]]") }
        let backoff = Backoff(initial: try table.double("reconnect_initial_s", in: 0.01...60, default: 0.5),
                              maximum: try table.double("reconnect_max_s", in: 0.1...3600, default: 30))
        let logger = self.logger

        switch definition.body {
        case .modbus(let map):
            try table.rejectUnknownKeys(Self.commonKeys.union(Self.serialKeys).union(["host", "port", "unit", "response_timeout_s", "byte_timeout_s",
                                                                                      "poll_interval_s", "record_interval_s", "watchdog_s", "protection", "start"]))
            let endpoint: ModbusEndpoint
            if table.contains("host") {
                endpoint = .tcp(host: try table.string("host"), port: try table.int("port", in: 1...65535, default: 502))
            } else {
                endpoint = .rtu(try serialAddress(table), try serialSettings(table, parity: .even))
            }
            let timing = ModbusTiming(responseTimeout: try table.double("response_timeout_s", in: 0.01...30, default: 0.5),
                                      byteTimeout: try table.double("byte_timeout_s", in: 0.001...5, default: 0.05))
            let limits = try protection(table)
            let interval = try table.double("record_interval_s", in: 0.01...3600, default: 1)
            let watchdog = try table.int("watchdog_s", in: 0...65535, default: 10)
            let start = try startSetpoint(table)
            for info in channels where info.instrumentChannel >= map.maxChannels {
                throw table.error(nil, "channel \(info.name) uses index \(info.instrumentChannel), but \(definition.name) has at most \(map.maxChannels) channels")
            }
            let configs = channels.map {
                CyclerChannelConfig(channel: $0.id, index: $0.instrumentChannel, protection: limits, recordInterval: interval, watchdog: watchdog,
                                    start: start)
            }
            return CyclerDriver(name: name, map: map, bus: bus(endpoint, timing), unit: try table.int("unit", in: 1...247, default: 1),
                                channels: configs, pollInterval: try table.double("poll_interval_s", in: 0.001...60, default: 0.2),
                                backoff: backoff, logger: logger)
        case .line(let lineDefinition):
            guard channels.count == 1, let channel = channels.first?.id else {
                throw table.error(nil, "a \(kind.rawValue) measures one cell; \(channels.count) channels are assigned to '\(name)'")
            }
            let line = SerialLine(address: try serialAddress(table), settings: try serialSettings(table, parity: .none))
            if kind == .analyzer {
                try table.rejectUnknownKeys(Self.commonKeys.union(Self.serialKeys).union(["poll_interval_s", "sweep_interval_s", "sweep"]))
                return AnalyzerDriver(name: name, definition: lineDefinition, line: line, channel: channel,
                                      pollInterval: try table.double("poll_interval_s", in: 0.01...10, default: 0.1),
                                      sweepInterval: try table.optionalDouble("sweep_interval_s").map { v throws(ConfigError) in
                                          guard v >= 1 else { throw table.error("sweep_interval_s", "must be at least 1 s") }
                                          return v
                                      },
                                      defaultSettings: try sweepSettings(table), backoff: backoff, logger: logger)
            }
            try table.rejectUnknownKeys(Self.commonKeys.union(Self.serialKeys).union(["record_interval_s", "watchdog_s", "protection"]))
            let interval = try table.double("record_interval_s", in: 0.01...3600, default: 1)
            let watchdog = try table.double("watchdog_s", in: 0...86_400, default: 10)
            if watchdog > 0 && watchdog < 3 * interval {
                throw table.error("watchdog_s", "\(watchdog) s would trip between readings every \(interval) s; use at least 3 × record_interval_s")
            }
            return GalvanostatDriver(name: name, definition: lineDefinition, line: line, channel: channel, protection: try protection(table),
                                     watchdog: watchdog, recordInterval: interval, backoff: backoff, logger: logger)
        }
    }

    static let commonKeys: Set<String> = ["name", "kind", "driver", "reconnect_initial_s", "reconnect_max_s"]
    static let serialKeys: Set<String> = ["serial", "usb", "usb_serial", "baud", "data_bits", "parity", "stop_bits", "flow_control"]

    private func bus(_ endpoint: ModbusEndpoint, _ timing: ModbusTiming) -> ModbusBus {
        buses.withLock { buses in
            if let shared = buses[endpoint] { return shared }
            let bus = ModbusBus(endpoint: endpoint, timing: timing)
            buses[endpoint] = bus
            return bus
        }
    }

    /// Closes every Modbus bus made by this factory.
    public func shutdown() async {
        for bus in buses.withLock({ Array($0.values) }) { await bus.shutdown() }
    }

    private func serialAddress(_ table: ConfigTable) throws(ConfigError) -> SerialAddress {
        if let usb = try table.optionalString("usb") {
            let parts = usb.split(separator: ":")
            guard parts.count == 2, let vendor = UInt16(parts[0], radix: 16), let product = UInt16(parts[1], radix: 16) else {
                throw table.error("usb", "'\(usb)' is not a USB identity such as \"0403:6001\" (vendor:product, hexadecimal)")
            }
            return .usb(vendor: vendor, product: product, serial: try table.optionalString("usb_serial"))
        }
        guard let path = try table.optionalString("serial") else {
            throw table.error(nil, "needs 'serial' (a device path), 'usb' (vendor:product) or, for Modbus TCP, 'host'")
        }
        return .path(table.resolvePath(path))
    }

    private func serialSettings(_ table: ConfigTable, parity: SerialSettings.Parity) throws(ConfigError) -> SerialSettings {
        let baud = try table.int("baud", in: 1200...921_600, default: 115_200)
        guard SerialSettings.baudRates[baud] != nil else {
            throw table.error("baud", "\(baud) is not a standard rate (\(SerialSettings.baudRates.keys.sorted().map(String.init).joined(separator: ", ")))")
        }
        return SerialSettings(
            baudRate: baud,
            dataBits: try table.int("data_bits", in: 5...8, default: 8),
            parity: try table.choice("parity", Dictionary(uniqueKeysWithValues: SerialSettings.Parity.allCases.map { ($0.rawValue, $0) }), default: parity),
            stopBits: try table.int("stop_bits", in: 1...2, default: 1),
            flowControl: try table.choice("flow_control", Dictionary(uniqueKeysWithValues: SerialSettings.FlowControl.allCases.map { ($0.rawValue, $0) }), default: SerialSettings.FlowControl.none))
    }

    private func protection(_ table: ConfigTable) throws(ConfigError) -> ProtectionLimits {
        try Self.protectionLimits(from: try table.table("protection"))
    }

    /// Limits from a protection table (an instrument's `protection`, a schedule's `safety`).
    public static func protectionLimits(from p: ConfigTable) throws(ConfigError) -> ProtectionLimits {
        try p.rejectUnknownKeys(["voltage_high_v", "voltage_low_v", "current_a", "temperature_c"])
        let limits = ProtectionLimits(voltageHigh: try p.double("voltage_high_v", in: 0...1000),
                                      voltageLow: try p.double("voltage_low_v", in: 0...1000),
                                      current: try p.double("current_a", in: 0.000_001...10_000),
                                      temperature: try p.double("temperature_c", in: -40...200))
        guard limits.voltageLow < limits.voltageHigh else { throw p.error("voltage_low_v", "must be below voltage_high_v") }
        return limits
    }

    /// `[instruments.start]`: the mode and setpoints every channel of a cycler gets when the driver first connects.
    private func startSetpoint(_ table: ConfigTable) throws(ConfigError) -> SourceSetpoint? {
        guard let t = try table.optionalTable("start") else { return nil }
        try t.rejectUnknownKeys(["mode", "current_a", "voltage_v", "current_limit_a"])
        let mode = try t.choice("mode", Dictionary(uniqueKeysWithValues: ["rest", "cc", "cv", "cccv"].map { ($0, $0) }))
        func current() throws(ConfigError) -> Double { try t.double("current_a", in: -10_000...10_000) }
        func voltage() throws(ConfigError) -> Double { try t.double("voltage_v", in: 0...1000) }
        func limit() throws(ConfigError) -> Double { try t.double("current_limit_a", in: 0.000_001...10_000) }
        switch mode {
        case "rest": return .rest
        case "cc": return .constantCurrent(current: try current())
        case "cv": return .constantVoltage(voltage: try voltage(), currentLimit: try limit())
        default: return .constantCurrentConstantVoltage(current: try current(), voltage: try voltage(), currentLimit: try limit())  // "cccv"
        }
    }

    private func sweepSettings(_ table: ConfigTable) throws(ConfigError) -> SweepSettings {
        guard let s = try table.optionalTable("sweep") else { return SweepSettings() }
        return try Self.sweepSettings(from: s)
    }

    /// Sweep settings from a `sweep` table (an analyzer's default sweep, a schedule's impedance step).
    public static func sweepSettings(from s: ConfigTable) throws(ConfigError) -> SweepSettings {
        try s.rejectUnknownKeys(["mode", "amplitude", "bias", "start_hz", "stop_hz", "points_per_decade", "cycles"])
        let mode = try s.choice("mode", ["galvanostatic": SweepSettings.Mode.galvanostatic, "potentiostatic": .potentiostatic], default: .galvanostatic)
        return SweepSettings(mode: mode,
                             amplitude: try s.double("amplitude", in: mode == .galvanostatic ? 1e-5...5 : 1e-4...1, default: 0.01),
                             bias: try s.double("bias", in: -100...100, default: 0),
                             startFrequency: try s.double("start_hz", in: 1e-4...1e6, default: 10_000),
                             stopFrequency: try s.double("stop_hz", in: 1e-4...1e6, default: 0.1),
                             pointsPerDecade: try s.int("points_per_decade", in: 1...50, default: 10),
                             cyclesPerPoint: try s.int("cycles", in: 1...100, default: 2))
    }
}
