import BenchCore
import Logging
import Synchronization

/// Drives an impedance analyzer over a line protocol: configure, start,
/// poll, fetch each point as it completes.
///
/// Points are handed to the caller as they arrive; the whole sweep is pushed
/// to `streams.sweeps` when done, or, when it is cut short (instrument reset,
/// link lost, aborted), pushed with status `aborted` holding the points taken.
public final class AnalyzerDriver: BenchInstrument {
    public let name: String
    public let kind = InstrumentKind.analyzer
    /// The cell the analyzer is connected to.
    public let channel: ChannelID
    public let pollInterval: Double
    /// Seconds between automatic sweeps (nil: only on request).
    public let sweepInterval: Double?
    public let defaultSettings: SweepSettings
    private let connection: LineConnection
    private let running = Mutex<BenchStreams?>(nil)

    static let requirement = LineProtocolDefinition.Requirement(
        commands: ["reset": [], "clear": [], "set_mode": ["mode"], "set_amplitude": ["amplitude"], "set_bias": ["bias"],
                   "set_start": ["frequency"], "set_stop": ["frequency"], "set_points_per_decade": ["points"],
                   "set_cycles": ["cycles"], "start": [], "abort": []],
        queries: ["identify": ([], []), "status": ([], ["state", "done", "total"]), "error": ([], ["code"]),
                  "point": (["index"], ["frequency_hz", "z_real_ohm", "z_imag_ohm"])],
        words: ["galvanostatic", "potentiostatic", "idle", "running", "done", "aborted", "fault"])

    public init(name: String, definition: LineProtocolDefinition, line: SerialLine, channel: ChannelID, pollInterval: Double = 0.1,
                sweepInterval: Double? = nil, defaultSettings: SweepSettings = SweepSettings(), backoff: Backoff = Backoff(), logger: Logger = Logger(label: "cellbench.instruments")) {
        self.name = name
        self.channel = channel
        self.pollInterval = pollInterval
        self.sweepInterval = sweepInterval
        self.defaultSettings = defaultSettings
        connection = LineConnection(instrument: name, definition: definition, line: line, backoff: backoff, logger: logger)
    }

    public var channels: [ChannelID] { [channel] }
    public func linkStatus() -> LinkStatus { connection.monitor.current }

    public func run(streams: BenchStreams, watermarks: CommitWatermarks) async throws {
        running.withLock { $0 = streams }
        defer { running.withLock { $0 = nil } }
        var nextSweep = sweepInterval.map { _ in BenchClock.monotonicSeconds() }
        await connection.supervise(streams: streams) { connected in
            _ = try await connection.session.query("identify")
            try await connection.session.send("clear")
            connected()
            while true {
                if let due = nextSweep, let interval = sweepInterval, BenchClock.monotonicSeconds() >= due {
                    nextSweep = due + interval
                    _ = try await measure(defaultSettings)
                } else {
                    try await Task.sleep(for: .seconds(1))
                    _ = try await connection.session.query("identify")
                }
            }
        }
    }

    /// Runs one sweep and returns it (complete or aborted); `onPoint` gets each point as it is fetched.
    /// `cell` is the channel the sweep is recorded under when the analyzer is wired to a cell that
    /// another instrument cycles (a schedule's impedance step); by default the analyzer's own channel.
    @discardableResult
    public func measure(_ settings: SweepSettings, cell: ChannelID? = nil, onPoint: @Sendable (ImpedancePoint, _ index: Int, _ total: Int) -> Void = { _, _, _ in }) async throws -> Sweep {
        guard let streams = running.withLock({ $0 }) else { throw InstrumentError.instrument("\(name): not running") }
        let started = Timestamp.now()
        var points: [ImpedancePoint] = []
        func finish(_ status: Sweep.Status) -> Sweep {
            let sweep = Sweep(channel: cell ?? channel, sequence: UInt64(max(0, started.wallNs / 1_000_000)), started: started,
                              finished: .now(), settings: settings, points: points, status: status)
            streams.sweeps.push(sweep)
            return sweep
        }
        do {
            try await configure(settings)
            try await connection.session.send("start")
            try await connection.session.checkErrors(after: "start")
            var total = settings.pointCount
            while true {
                try await Task.sleep(for: .seconds(pollInterval))
                let status = try await connection.session.query("status")
                let state = status["state"]?.word ?? ""
                let done = status["done"]?.integer ?? 0
                total = status["total"]?.integer ?? total
                if state == connection.session.word("idle") && points.count > 0 || done < points.count {
                    throw InstrumentError.instrument("\(name): the analyzer was reset during the sweep (\(state),\(done),\(total))")
                }
                while points.count < done {
                    let index = points.count
                    let reply = try await connection.session.query("point", ["index": .integer(index)])
                    guard reply["index"]?.integer.map({ $0 == index }) ?? true,
                          let f = reply["frequency_hz"]?.number, let re = reply["z_real_ohm"]?.number, let im = reply["z_imag_ohm"]?.number else {
                        throw TransportError.garbled("\(name): point \(index) reply does not match the request")
                    }
                    let point = ImpedancePoint(frequency: f, zReal: re, zImag: im,
                                               dcVoltage: reply["dc_v"]?.number ?? .nan, dcCurrent: reply["dc_a"]?.number ?? .nan)
                    points.append(point)
                    onPoint(point, index, total)
                }
                if state == connection.session.word("done") && points.count >= total { return finish(.complete) }
                if state == connection.session.word("aborted") || state == connection.session.word("fault") {
                    throw InstrumentError.instrument("\(name): sweep ended \(state) after \(points.count) of \(total) points")
                }
            }
        } catch {
            _ = finish(.aborted)
            // A shutdown is not an instrument fault: the sweep is still stored aborted, but reported as such.
            let stopping = error is CancellationError
            let message = "\(name): sweep aborted after \(points.count) point(s): \(stopping ? "acquisition stopped" : "\(error)")"
            connection.logger.log(level: stopping ? .notice : .error, "\(message)", metadata: ["instrument": "\(name)"])
            streams.events.push(BenchEvent(channel: cell ?? channel, severity: stopping ? .info : .error, kind: "sweep-aborted", message: message, instrument: name))
            if stopping { try? await connection.session.send("abort") }
            throw error
        }
    }

    private func configure(_ s: SweepSettings) async throws {
        try await connection.session.send("clear")
        let mode = connection.session.word(s.mode == .galvanostatic ? "galvanostatic" : "potentiostatic")
        try await connection.session.send("set_mode", ["mode": .word(mode)])
        try await connection.session.send("set_amplitude", ["amplitude": .number(s.amplitude)])
        try await connection.session.send("set_bias", ["bias": .number(s.bias)])
        try await connection.session.send("set_start", ["frequency": .number(s.startFrequency)])
        try await connection.session.send("set_stop", ["frequency": .number(s.stopFrequency)])
        try await connection.session.send("set_points_per_decade", ["points": .integer(s.pointsPerDecade)])
        try await connection.session.send("set_cycles", ["cycles": .integer(s.cyclesPerPoint)])
        try await connection.session.checkErrors(after: "configure")
    }

    public func safeStop(channel: ChannelID) async throws {
        try await connection.session.send("abort")
    }
}
