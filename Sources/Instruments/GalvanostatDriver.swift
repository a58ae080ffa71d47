import BenchCore
import Logging
import Synchronization

/// Drives a single-channel galvanostat / potentiostat over a line protocol.
///
/// Protection limits and the instrument watchdog are pushed on every
/// connection; the watchdog is armed by default and fed by the reading
/// queries, so if the daemon dies the instrument turns its output off by
/// itself. Readings are polled at `recordInterval` and pushed as samples; a
/// restart of the instrument's reading counter is reported as a `gap`.
public final class GalvanostatDriver: SourceInstrument {
    public let name: String
    public let kind = InstrumentKind.galvanostat
    public let channel: ChannelID
    public let protection: ProtectionLimits
    /// Instrument watchdog, s (0 = off).
    public let watchdog: Double
    public let recordInterval: Double
    private let connection: LineConnection
    private let state = Mutex(State())

    struct State {
        var setpoint: SourceSetpoint?
        /// Protection and reading interval set by a schedule, in place of the configured ones.
        var protection: ProtectionLimits?
        var recordInterval: Double?
        var epoch: UInt32 = 0
        var lastSequence: UInt32?
        var lastTime: Double = 0
        var tripCode = 0
    }

    static let requirement = LineProtocolDefinition.Requirement(
        commands: ["reset": [], "clear": [], "function": ["function"], "set_current": ["current"], "set_voltage": ["voltage"],
                   "set_current_limit": ["current"], "output_on": [], "output_off": [],
                   "protect_voltage_high": ["voltage"], "protect_voltage_low": ["voltage"], "protect_current": ["current"],
                   "protect_temperature": ["temperature"], "watchdog": ["seconds"], "clear_trip": []],
        queries: ["identify": ([], []), "error": ([], ["code"]), "trip": ([], ["code"]),
                  "read": ([], ["sequence", "time", "voltage", "current", "temperature"])],
        words: ["current", "voltage", "rest"])

    public init(name: String, definition: LineProtocolDefinition, line: SerialLine, channel: ChannelID, protection: ProtectionLimits,
                watchdog: Double = 10, recordInterval: Double = 1, backoff: Backoff = Backoff(), logger: Logger = Logger(label: "cellbench.instruments")) {
        self.name = name
        self.channel = channel
        self.protection = protection
        self.watchdog = watchdog
        self.recordInterval = recordInterval
        connection = LineConnection(instrument: name, definition: definition, line: line, backoff: backoff, logger: logger)
    }

    public var channels: [ChannelID] { [channel] }
    public func linkStatus() -> LinkStatus { connection.monitor.current }

    public func run(streams: BenchStreams, watermarks: CommitWatermarks) async throws {
        if let committed = watermarks.committed(channel) {
            state.withLock {
                $0.epoch = UInt32(truncatingIfNeeded: committed >> 32)
                $0.lastSequence = UInt32(truncatingIfNeeded: committed)
            }
        }
        await connection.supervise(streams: streams) { connected in
            _ = try await connection.session.query("identify")
            try await restore()
            connected()
            var lastTripCheck = 0.0
            while true {
                // A power-cycled instrument came back with its defaults: give it our settings again.
                if try await readSample(streams: streams) { try await restore() }
                if BenchClock.monotonicSeconds() - lastTripCheck >= 1 {
                    lastTripCheck = BenchClock.monotonicSeconds()
                    try await checkTrip(streams: streams)
                }
                try await Task.sleep(for: .seconds(state.withLock { $0.recordInterval } ?? recordInterval))
            }
        }
    }

    /// Sets the source; remembered and restored after a reconnection.
    public func apply(_ setpoint: SourceSetpoint) async throws {
        state.withLock { $0.setpoint = setpoint }
        try await send(setpoint)
    }

    public func apply(_ setpoint: SourceSetpoint, channel: ChannelID) async throws {
        try await apply(setpoint)
    }

    public func protect(_ limits: ProtectionLimits, recordInterval interval: Double?, channel: ChannelID) async throws {
        if let interval, watchdog > 0 && watchdog < 3 * interval {
            throw InstrumentError.configuration("\(name): readings every \(interval) s would trip its \(watchdog) s watchdog; use at most \(watchdog / 3) s")
        }
        state.withLock { s in
            s.protection = limits
            if let interval { s.recordInterval = interval }
        }
        try await pushProtection()
    }

    public func safeStop(channel: ChannelID) async throws {
        state.withLock { $0.setpoint = nil }
        try await connection.session.send("output_off")
        try await connection.session.send("function", ["function": .word(connection.session.word("rest"))])
    }

    private func restore() async throws {
        try await connection.session.send("clear")
        try await pushProtection()
        let trip = try await connection.session.query("trip")["code"]?.integer ?? 0
        if trip == 0, let setpoint = state.withLock({ $0.setpoint }) { try await send(setpoint) }
    }

    /// Protection (a schedule's, else the configured one) and the watchdog.
    private func pushProtection() async throws {
        let protection = state.withLock { $0.protection } ?? self.protection
        try await connection.session.send("protect_voltage_high", ["voltage": .number(protection.voltageHigh)])
        try await connection.session.send("protect_voltage_low", ["voltage": .number(protection.voltageLow)])
        try await connection.session.send("protect_current", ["current": .number(protection.current)])
        try await connection.session.send("protect_temperature", ["temperature": .number(protection.temperature)])
        try await connection.session.send("watchdog", ["seconds": .number(watchdog)])
        try await connection.session.checkErrors(after: "protection")
    }

    private func send(_ setpoint: SourceSetpoint) async throws {
        switch setpoint {
        case .rest:
            try await connection.session.send("function", ["function": .word(connection.session.word("rest"))])
        case .constantCurrent(let current):
            try await connection.session.send("set_current", ["current": .number(current)])
            try await connection.session.send("function", ["function": .word(connection.session.word("current"))])
        case .constantVoltage(let voltage, let limit), .constantCurrentConstantVoltage(_, let voltage, let limit):
            // The galvanostat has no CC-CV mode of its own: the schedule switches CC to CV.
            try await connection.session.send("set_voltage", ["voltage": .number(voltage)])
            try await connection.session.send("set_current_limit", ["current": .number(abs(limit))])
            try await connection.session.send("function", ["function": .word(connection.session.word("voltage"))])
        }
        try await connection.session.send("output_on")
        try await connection.session.checkErrors(after: "source settings")
    }

    /// Reads one sample; returns whether the instrument restarted since the last one.
    private func readSample(streams: BenchStreams) async throws -> Bool {
        let reply = try await connection.session.query("read")
        let received = Timestamp.now()
        guard let seq = reply["sequence"]?.integer, seq >= 0, let t = reply["time"]?.number,
              let v = reply["voltage"]?.number, let i = reply["current"]?.number else {
            throw TransportError.garbled("\(name): reading has a bad sequence number or value")
        }
        let sequence = UInt32(truncatingIfNeeded: seq)
        let (full, restartedFrom) = state.withLock { s -> (UInt64?, UInt32?) in
            var restartedFrom: UInt32?
            if let last = s.lastSequence, sequence < last || t < s.lastTime {
                restartedFrom = last
                s.epoch &+= 1
            } else if let last = s.lastSequence, sequence == last {
                return (nil, nil)
            }
            s.lastSequence = sequence
            s.lastTime = t
            return (UInt64(s.epoch) << 32 | UInt64(sequence), restartedFrom)
        }
        if let restartedFrom {
            let message = "\(name): instrument restarted (reading counter went from \(restartedFrom) to \(sequence))"
            connection.logger.warning("\(message)", metadata: ["instrument": "\(name)"])
            streams.events.push(BenchEvent(channel: channel, severity: .warning, kind: "gap", message: message, instrument: name))
        }
        if let full {
            streams.samples.push(Sample(channel: channel, sequence: full, time: received, instrumentTime: t, voltage: v, current: i,
                                        temperature: reply["temperature"]?.number ?? .nan))
        }
        return restartedFrom != nil
    }

    private func checkTrip(streams: BenchStreams) async throws {
        let code = try await connection.session.query("trip")["code"]?.integer ?? 0
        let previous = state.withLock { s -> Int in
            let old = s.tripCode
            s.tripCode = code
            return old
        }
        guard code != 0, code != previous else { return }
        let message = "\(name): tripped (\(CyclerDriver.tripReasons[code] ?? "code \(code)")); output is off"
        connection.logger.error("\(message)", metadata: ["instrument": "\(name)"])
        streams.events.push(BenchEvent(channel: channel, severity: .error, kind: "instrument-error", message: message, instrument: name))
    }
}
