import BenchCore
import Logging
import Synchronization

/// One configured channel of a cycler.
public struct CyclerChannelConfig: Equatable, Sendable {
    public var channel: ChannelID
    /// Channel number on the instrument (0-based).
    public var index: Int
    public var protection: ProtectionLimits
    /// Seconds between records taken by the instrument.
    public var recordInterval: Double
    /// Instrument watchdog, s (0 = off): the channel trips if the daemon stops writing.
    public var watchdog: Int
    /// Mode and setpoints applied when the driver first connects (nil: the channel is left as the instrument has it).
    public var start: SourceSetpoint?

    public init(channel: ChannelID, index: Int, protection: ProtectionLimits, recordInterval: Double = 1, watchdog: Int = 10,
                start: SourceSetpoint? = nil) {
        self.channel = channel
        self.index = index
        self.protection = protection
        self.recordInterval = recordInterval
        self.watchdog = watchdog
        self.start = start
    }
}

/// Drives a multi-channel cycler over Modbus and reads its record buffer without loss.
///
/// Records are pushed to `streams.samples` as they are read, and a record is
/// acknowledged to the instrument (freeing it there) only once the store has
/// committed it (`CommitWatermarks`). A sequence jump, a restart of sequence
/// numbers (instrument power cycle) or a rise of the dropped-records counter
/// is pushed as a `gap` event.
public final class CyclerDriver: SourceInstrument {
    public let name: String
    public let kind = InstrumentKind.cycler
    public let map: CyclerMap
    public let bus: ModbusBus
    public let unit: Int
    public let channelConfigs: [CyclerChannelConfig]
    /// Seconds between polls when the instrument is not catching up.
    public let pollInterval: Double
    public let backoff: Backoff
    private let monitor: LinkMonitor
    private let logger: Logger
    private let state: Mutex<[ChannelID: ChannelState]>

    /// What the driver remembers of a channel across reconnections.
    struct ChannelState: Sendable {
        /// Instrument restarts seen: the high 32 bits of `Sample.sequence`.
        var epoch: UInt32 = 0
        /// Newest instrument sequence number pushed to the streams (0 = none in this epoch).
        var lastSequence: UInt32 = 0
        var lastAcknowledged: UInt32 = 0
        var dropped: UInt32?
        var lastChannelTime: Double = 0
        var setpoint: SourceSetpoint?
        /// Protection and record interval set by a schedule, in place of the configured ones.
        var protection: ProtectionLimits?
        var recordInterval: Double?
        var paused = false
        var tripCode = 0
        var lastWrite: Double = 0
        var resumedFromStore = false
    }

    public init(name: String, map: CyclerMap, bus: ModbusBus, unit: Int, channels: [CyclerChannelConfig],
                pollInterval: Double = 0.2, backoff: Backoff = Backoff(), logger: Logger = Logger(label: "cellbench.instruments")) {
        self.name = name
        self.map = map
        self.bus = bus
        self.unit = unit
        self.channelConfigs = channels
        self.pollInterval = pollInterval
        self.backoff = backoff
        monitor = LinkMonitor(instrument: name)
        self.logger = logger
        state = Mutex(Dictionary(uniqueKeysWithValues: channels.map { ($0.channel, ChannelState(setpoint: $0.start)) }))
    }

    public var channels: [ChannelID] { channelConfigs.map(\.channel) }
    public func linkStatus() -> LinkStatus { monitor.current }

    public func run(streams: BenchStreams, watermarks: CommitWatermarks) async throws {
        resumeFromStore(watermarks)
        await superviseLink(monitor: monitor, streams: streams, logger: logger, backoff: backoff) { connected in
            try await checkDevice()
            for config in channelConfigs { try await restore(config) }
            connected()
            try await pollLoop(streams: streams, watermarks: watermarks, logger: logger)
        }
        await bus.disconnect()
    }

    /// Sets mode and setpoints on a channel and applies them; remembered and re-applied after a reconnection.
    public func apply(_ setpoint: SourceSetpoint, channel: ChannelID) async throws {
        let config = try configuration(channel)
        state.withLock { $0[channel]?.setpoint = setpoint; $0[channel]?.paused = false }
        try await writeSetpoint(setpoint, config)
    }

    public func protect(_ limits: ProtectionLimits, recordInterval: Double?, channel: ChannelID) async throws {
        let config = try configuration(channel)
        state.withLock { s in
            s[channel]?.protection = limits
            if let recordInterval { s[channel]?.recordInterval = recordInterval }
        }
        try await pushProtection(config)
    }

    public func pause(channel: ChannelID) async throws {
        let config = try configuration(channel)
        state.withLock { $0[channel]?.paused = true }
        try await command("pause", config)
    }

    public func resume(channel: ChannelID) async throws {
        let config = try configuration(channel)
        state.withLock { $0[channel]?.paused = false }
        try await command("resume", config)
    }

    public func clearTrip(channel: ChannelID) async throws {
        try await command("clear_trip", try configuration(channel))
    }

    public func safeStop(channel: ChannelID) async throws {
        let config = try configuration(channel)
        state.withLock { $0[channel]?.setpoint = nil }
        try await command("stop", config)
    }

    // MARK: - Session

    private func configuration(_ channel: ChannelID) throws -> CyclerChannelConfig {
        guard let config = channelConfigs.first(where: { $0.channel == channel }) else {
            throw InstrumentError.unknownChannel(channel, instrument: name)
        }
        return config
    }

    /// The store's last committed sequence per channel tells where a restarted daemon left off.
    private func resumeFromStore(_ watermarks: CommitWatermarks) {
        state.withLock { states in
            for config in channelConfigs {
                guard let committed = watermarks.committed(config.channel) else { continue }
                states[config.channel]?.epoch = UInt32(truncatingIfNeeded: committed >> 32)
                states[config.channel]?.lastSequence = UInt32(truncatingIfNeeded: committed)
                states[config.channel]?.resumedFromStore = true
            }
        }
    }

    private func checkDevice() async throws {
        let field = map.channelCount
        let registers = try await bus.readRegisters(.input, unit: unit, address: field.address, count: field.count)
        let count = Int(field.decodeCounter(registers, base: -field.address))
        for config in channelConfigs where config.index >= count {
            throw InstrumentError.configuration("\(name): channel \(config.index) configured but the instrument has \(count) channels")
        }
    }

    /// Pushes protection, record interval and watchdog; re-applies the last setpoint unless the channel tripped.
    private func restore(_ config: CyclerChannelConfig) async throws {
        // An acknowledgement in flight when the link dropped may never have arrived: send it again on the next poll.
        state.withLock { $0[config.channel]?.lastAcknowledged = 0 }
        try await pushProtection(config)
        let status = try await readStatus(config)
        let remembered = state.withLock { $0[config.channel] }
        guard status.state != map.code("state", "tripped"), let setpoint = remembered?.setpoint else { return }
        try await writeSetpoint(setpoint, config)
        if remembered?.paused == true { try await command("pause", config) }
    }

    /// Protection and record interval (a schedule's, else the configured ones) and the watchdog.
    private func pushProtection(_ config: CyclerChannelConfig) async throws {
        let remembered = state.withLock { $0[config.channel] }
        let p = remembered?.protection ?? config.protection
        for (field, value) in [("protect_voltage_high", p.voltageHigh), ("protect_voltage_low", p.voltageLow),
                               ("protect_current", p.current), ("protect_temperature", p.temperature),
                               ("record_interval", remembered?.recordInterval ?? config.recordInterval), ("watchdog", Double(config.watchdog))] {
            try await write(field, value, config)
        }
    }

    private func writeSetpoint(_ setpoint: SourceSetpoint, _ config: CyclerChannelConfig) async throws {
        switch setpoint {
        case .rest:
            try await write("mode", Double(map.code("mode", "rest")), config)
        case .constantCurrent(let current):
            try await write("current_setpoint", current, config)
            try await write("mode", Double(map.code("mode", "constant_current")), config)
        case .constantVoltage(let voltage, let limit):
            try await write("voltage_setpoint", voltage, config)
            try await write("current_limit", abs(limit), config)
            try await write("mode", Double(map.code("mode", "constant_voltage")), config)
        case .constantCurrentConstantVoltage(let current, let voltage, let limit):
            try await write("current_setpoint", current, config)
            try await write("voltage_setpoint", voltage, config)
            try await write("current_limit", abs(limit), config)
            try await write("mode", Double(map.code("mode", "cccv")), config)
        }
        try await command("apply", config)
    }

    private func command(_ word: String, _ config: CyclerChannelConfig) async throws {
        try await write("command", Double(map.code("command", word)), config)
    }

    private func write(_ fieldName: String, _ value: Double, _ config: CyclerChannelConfig) async throws {
        guard let field = map.holding[fieldName] else { throw InstrumentError.configuration("\(name): driver has no holding register `\(fieldName)`") }
        let words: [UInt16]
        do { words = try field.encode(value) } catch {
            throw InstrumentError.configuration("\(name): \(fieldName): \(error.description)")
        }
        try await bus.writeRegisters(unit: unit, address: map.holdingAddress(channel: config.index, offset: field.address), values: words)
        let now = BenchClock.monotonicSeconds()
        state.withLock { $0[config.channel]?.lastWrite = now }
    }

    private func readStatus(_ config: CyclerChannelConfig) async throws -> (state: Int, trip: Int) {
        let span = map.statusSpan
        let registers = try await bus.readRegisters(.input, unit: unit, address: map.inputAddress(channel: config.index, offset: span.lowerBound),
                                                    count: span.count, maxRead: map.maxRead)
        let base = -span.lowerBound
        return (Int(map.input["state"]?.decodeCounter(registers, base: base) ?? 0), Int(map.input["trip"]?.decodeCounter(registers, base: base) ?? 0))
    }

    // MARK: - Loss-free reading

    private func pollLoop(streams: BenchStreams, watermarks: CommitWatermarks, logger: Logger) async throws {
        var lastStatus = 0.0
        var garbledInRow = 0
        while true {
            try Task.checkCancellation()
            let catchingUp: Bool
            do {
                catchingUp = try await poll(streams: streams, watermarks: watermarks, logger: logger, lastStatus: &lastStatus)
                garbledInRow = 0
            } catch let error as TransportError {
                // A damaged reply (bad CRC, wrong length) is reported and the poll made again: nothing read from it
                // was kept and nothing acknowledged. Only several in a row say the link itself is bad.
                guard case .garbled = error, garbledInRow < Self.garbledRepliesTolerated else { throw error }
                garbledInRow += 1
                monitor.protocolError(error, channel: nil, streams: streams, logger: logger)
                continue
            }
            if !catchingUp { try await Task.sleep(for: .seconds(pollInterval)) }
        }
    }

    /// One round over every channel: read and push new records, acknowledge what is committed, check status
    /// once a second. Returns whether some channel's window was full (more records are waiting).
    private func poll(streams: BenchStreams, watermarks: CommitWatermarks, logger: Logger, lastStatus: inout Double) async throws -> Bool {
        var catchingUp = false
        for config in channelConfigs {
            let (full, restarted) = try await readRecords(config, streams: streams, logger: logger)
            if full { catchingUp = true }
            // A power-cycled channel came back with default settings: give it ours again.
            if restarted { try await restore(config) }
        }
        if catchingUp {
            // The window only moves on once records are acknowledged, and they are acknowledged only when committed.
            await waitForCommits(watermarks, timeout: 1)
        }
        for config in channelConfigs {
            try await acknowledge(config, watermarks)
        }
        let now = BenchClock.monotonicSeconds()
        if now - lastStatus >= 1 {
            lastStatus = now
            for config in channelConfigs { try await checkStatus(config, streams: streams, logger: logger) }
        }
        return catchingUp
    }

    /// Reads counters and window of one channel, pushes new records, reports gaps.
    /// Returns whether the window was full (more records are waiting) and whether the instrument restarted.
    private func readRecords(_ config: CyclerChannelConfig, streams: BenchStreams, logger: Logger) async throws -> (full: Bool, restarted: Bool) {
        let span = map.recordSpan
        let registers = try await bus.readRegisters(.input, unit: unit, address: map.inputAddress(channel: config.index, offset: span.lowerBound),
                                                    count: span.count, maxRead: map.maxRead)
        let received = Timestamp.now()
        let base = -span.lowerBound
        func counter(_ name: String) -> UInt32 { map.input[name]?.decodeCounter(registers, base: base) ?? 0 }
        let newest = counter("newest"), dropped = counter("dropped")
        let inWindow = min(Int(counter("window_count")), map.windowRecords)
        let channelTime = map.input["time"]?.decode(registers, base: base) ?? 0

        var events: [BenchEvent] = []
        var samples: [Sample] = []
        var restarted = false
        state.withLock { states in
            guard var s = states[config.channel] else { return }
            defer { states[config.channel] = s }
            restarted = channelTime < s.lastChannelTime || newest < s.lastSequence
                || (s.dropped.map { dropped < $0 } ?? false)
            if restarted {
                events.append(BenchEvent(channel: config.channel, severity: .warning, kind: "gap",
                                         message: "\(name) channel \(config.index): instrument restarted (sequence numbers begin again at \(newest), were at \(s.lastSequence)); records not yet read before the restart are lost",
                                         instrument: name))
                s.epoch &+= 1
                s.lastSequence = 0
                s.lastAcknowledged = 0
                s.dropped = nil
            }
            s.lastChannelTime = channelTime
            if let previous = s.dropped, dropped > previous {
                events.append(BenchEvent(channel: config.channel, severity: .error, kind: "gap",
                                         message: "\(name) channel \(config.index): the instrument dropped \(dropped - previous) record(s) because its buffer overflowed",
                                         instrument: name))
            }
            s.dropped = dropped
            for r in 0..<inWindow {
                let recordBase = base + map.windowAddress + r * map.recordStride
                func value(_ field: String) -> Double { map.record[field]?.decode(registers, base: recordBase) ?? .nan }
                let sequence = map.record["sequence"]?.decodeCounter(registers, base: recordBase) ?? 0
                guard sequence > s.lastSequence else { continue }
                let expected = s.lastSequence &+ 1
                if sequence != expected && (s.lastSequence > 0 || s.resumedFromStore || s.epoch > 0) {
                    events.append(BenchEvent(channel: config.channel, severity: .error, kind: "gap",
                                             message: "\(name) channel \(config.index): records \(expected)...\(sequence - 1) missing (sequence jumped from \(s.lastSequence) to \(sequence))",
                                             instrument: name))
                }
                let recordTime = value("time")
                let age = Int64(max(0, channelTime - recordTime) * 1e9)
                samples.append(Sample(channel: config.channel, sequence: UInt64(s.epoch) << 32 | UInt64(sequence),
                                      time: Timestamp(monotonicNs: received.monotonicNs - age, wallNs: received.wallNs - age),
                                      instrumentTime: recordTime, voltage: value("voltage"), current: value("current"),
                                      temperature: value("temperature"), charge: value("charge")))
                s.lastSequence = sequence
            }
            s.resumedFromStore = false
        }
        for event in events {
            logger.warning("\(event.message)", metadata: ["instrument": "\(name)"])
            streams.events.push(event)
        }
        for sample in samples { streams.samples.push(sample) }
        return (inWindow == map.windowRecords, restarted)
    }

    private func waitForCommits(_ watermarks: CommitWatermarks, timeout: Double) async {
        let deadline = BenchClock.monotonicSeconds() + timeout
        while BenchClock.monotonicSeconds() < deadline {
            let pending = state.withLock { states in
                channelConfigs.contains { c in
                    guard let s = states[c.channel], s.lastSequence > s.lastAcknowledged else { return false }
                    let target = UInt64(s.epoch) << 32 | UInt64(s.lastSequence)
                    return (watermarks.committed(c.channel) ?? 0) < target
                }
            }
            if !pending { return }
            do { try await Task.sleep(for: .milliseconds(2)) } catch { return }
        }
    }

    /// Frees on the instrument every record the store has committed; feeds the watchdog when idle.
    private func acknowledge(_ config: CyclerChannelConfig, _ watermarks: CommitWatermarks) async throws {
        let (target, lastWrite) = state.withLock { states -> (UInt32?, Double) in
            guard let s = states[config.channel], let committed = watermarks.committed(config.channel),
                  UInt32(truncatingIfNeeded: committed >> 32) == s.epoch else { return (nil, states[config.channel]?.lastWrite ?? 0) }
            let upTo = min(UInt32(truncatingIfNeeded: committed), s.lastSequence)
            return (upTo > s.lastAcknowledged ? upTo : nil, s.lastWrite)
        }
        if let target {
            try await write("acknowledge", Double(target), config)
            state.withLock { $0[config.channel]?.lastAcknowledged = target }
        } else if config.watchdog > 0, BenchClock.monotonicSeconds() - lastWrite > Double(config.watchdog) / 3 {
            try await write("watchdog", Double(config.watchdog), config)
        }
    }

    private func checkStatus(_ config: CyclerChannelConfig, streams: BenchStreams, logger: Logger) async throws {
        let status = try await readStatus(config)
        let tripped = status.state == map.code("state", "tripped") ? status.trip : 0
        let previous = state.withLock { states -> Int in
            let old = states[config.channel]?.tripCode ?? 0
            states[config.channel]?.tripCode = tripped
            return old
        }
        guard tripped != 0, tripped != previous else { return }
        let reason = Self.tripReasons[tripped] ?? "code \(tripped)"
        let message = "\(name) channel \(config.index): tripped (\(reason)); output is off"
        logger.error("\(message)", metadata: ["instrument": "\(name)"])
        streams.events.push(BenchEvent(channel: config.channel, severity: .error, kind: "instrument-error", message: message, instrument: name))
    }

    static let garbledRepliesTolerated = 3

    static let tripReasons = [1: "over-voltage", 2: "under-voltage", 3: "over-current", 4: "over-temperature", 5: "watchdog", 6: "hardware"]
}

public enum InstrumentError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownChannel(ChannelID, instrument: String)
    case configuration(String)
    case instrument(String)

    public var description: String {
        switch self {
        case .unknownChannel(let c, let i): return "\(i): channel \(c) is not one of its channels"
        case .configuration(let m): return m
        case .instrument(let m): return m
        }
    }
}
