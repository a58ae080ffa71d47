#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One cycling data point as the instrument reported it.
///
/// Plain value type with no references, so pushing it into a ring buffer or
/// binding it into a prepared statement never allocates.
public struct Sample: Hashable, Sendable {
    public var channel: ChannelID
    /// Sequence number from the instrument where it has one, otherwise from the driver.
    public var sequence: UInt64
    public var time: Timestamp
    /// Instrument time since its power-up, s (0 when the instrument has none).
    public var instrumentTime: Double
    /// Terminal voltage, V.
    public var voltage: Double
    /// Current, A, positive into the cell (charging).
    public var current: Double
    /// Cell temperature, °C (NaN when not measured).
    public var temperature: Double
    /// Net charge counted by the instrument, Ah, positive into the cell.
    public var charge: Double

    public init(channel: ChannelID, sequence: UInt64, time: Timestamp, instrumentTime: Double = 0,
                voltage: Double, current: Double, temperature: Double = .nan, charge: Double = 0) {
        self.channel = channel
        self.sequence = sequence
        self.time = time
        self.instrumentTime = instrumentTime
        self.voltage = voltage
        self.current = current
        self.temperature = temperature
        self.charge = charge
    }
}

/// How an impedance sweep was taken.
public struct SweepSettings: Hashable, Sendable, Codable {
    public enum Mode: String, Sendable, Codable { case galvanostatic = "GALV", potentiostatic = "POT" }
    public var mode: Mode
    /// Excitation amplitude, A rms (galvanostatic) or V rms (potentiostatic).
    public var amplitude: Double
    /// DC bias, A (galvanostatic) or V against open circuit (potentiostatic).
    public var bias: Double
    public var startFrequency: Double
    public var stopFrequency: Double
    public var pointsPerDecade: Int
    public var cyclesPerPoint: Int

    public init(mode: Mode = .galvanostatic, amplitude: Double = 0.01, bias: Double = 0,
                startFrequency: Double = 10_000, stopFrequency: Double = 0.1,
                pointsPerDecade: Int = 10, cyclesPerPoint: Int = 2) {
        self.mode = mode
        self.amplitude = amplitude
        self.bias = bias
        self.startFrequency = startFrequency
        self.stopFrequency = stopFrequency
        self.pointsPerDecade = pointsPerDecade
        self.cyclesPerPoint = cyclesPerPoint
    }

    /// Number of points the reference analyzer takes for these settings:
    /// `floor(|log10(stop/start)| · ppd) + 1`.
    public var pointCount: Int {
        guard startFrequency > 0, stopFrequency > 0 else { return 0 }
        let decades = abs(log10(stopFrequency / startFrequency))
        return Int((decades * Double(pointsPerDecade) + 1e-9).rounded(.down)) + 1
    }
}

/// One point of an impedance spectrum. `zImag` is signed: capacitive arcs are negative.
public struct ImpedancePoint: Hashable, Sendable, Codable {
    public var frequency: Double
    public var zReal: Double
    public var zImag: Double
    /// DC voltage during the point, V (NaN when unknown).
    public var dcVoltage: Double
    /// DC current during the point, A (NaN when unknown).
    public var dcCurrent: Double

    public init(frequency: Double, zReal: Double, zImag: Double, dcVoltage: Double = .nan, dcCurrent: Double = .nan) {
        self.frequency = frequency
        self.zReal = zReal
        self.zImag = zImag
        self.dcVoltage = dcVoltage
        self.dcCurrent = dcCurrent
    }
}

/// A whole impedance sweep of one channel.
public struct Sweep: Hashable, Sendable {
    public enum Status: String, Sendable, Codable { case complete, aborted }
    public var channel: ChannelID
    /// Per-channel sweep number, assigned by the driver.
    public var sequence: UInt64
    public var started: Timestamp
    public var finished: Timestamp
    public var settings: SweepSettings
    public var points: [ImpedancePoint]
    public var status: Status

    public init(channel: ChannelID, sequence: UInt64, started: Timestamp, finished: Timestamp,
                settings: SweepSettings, points: [ImpedancePoint], status: Status) {
        self.channel = channel
        self.sequence = sequence
        self.started = started
        self.finished = finished
        self.settings = settings
        self.points = points
        self.status = status
    }
}

/// Something that happened on the bench worth recording: a gap in the data,
/// a lost link, an instrument error, a failed analysis.
public struct BenchEvent: Hashable, Sendable, Codable {
    public enum Severity: String, Sendable, Codable, CaseIterable { case info, warning, error }
    /// Channel concerned, or nil for bench-wide events.
    public var channel: ChannelID?
    public var time: Timestamp
    public var severity: Severity
    /// Short machine-readable kind, e.g. `gap`, `link-lost`, `kk-failed`.
    public var kind: String
    /// Human-readable message naming what and where.
    public var message: String
    /// Instrument name, when an instrument is concerned.
    public var instrument: String?

    public init(channel: ChannelID?, time: Timestamp = .now(), severity: Severity, kind: String,
                message: String, instrument: String? = nil) {
        self.channel = channel
        self.time = time
        self.severity = severity
        self.kind = kind
        self.message = message
        self.instrument = instrument
    }
}

/// An estimated quantity for a channel at a time: SOC, SOH, a fitted parameter.
public struct Estimate: Hashable, Sendable {
    public var channel: ChannelID
    public var time: Timestamp
    /// Quantity name, e.g. `soc`, `soh_q`, `r0_ohm`.
    public var quantity: String
    public var value: Double
    /// One standard deviation (NaN when unknown).
    public var sigma: Double
    /// What produced it, e.g. `foekf`, `coulomb`, `fit`.
    public var source: String

    public init(channel: ChannelID, time: Timestamp, quantity: String, value: Double, sigma: Double = .nan, source: String) {
        self.channel = channel
        self.time = time
        self.quantity = quantity
        self.value = value
        self.sigma = sigma
        self.source = source
    }
}
