import BenchCore

/// Protection limits enforced by the instrument itself; pushed at start and after every reconnection.
public struct ProtectionLimits: Equatable, Sendable {
    public var voltageHigh: Double
    public var voltageLow: Double
    /// Largest |current|, A.
    public var current: Double
    public var temperature: Double

    public init(voltageHigh: Double, voltageLow: Double, current: Double, temperature: Double) {
        self.voltageHigh = voltageHigh
        self.voltageLow = voltageLow
        self.current = current
        self.temperature = temperature
    }
}

/// What a source should do: the operating mode and its setpoints (A, V).
public enum SourceSetpoint: Equatable, Sendable {
    case rest
    case constantCurrent(current: Double)
    case constantVoltage(voltage: Double, currentLimit: Double)
    /// Constant current until `voltage` is reached, then constant voltage at it.
    case constantCurrentConstantVoltage(current: Double, voltage: Double, currentLimit: Double)
}

/// An instrument that sources current or voltage into cells: what a test schedule commands.
/// Settings given here are remembered and pushed again after every reconnection.
public protocol SourceInstrument: BenchInstrument {
    func apply(_ setpoint: SourceSetpoint, channel: ChannelID) async throws
    /// Replaces the channel's protection limits and, when given, its record interval (s).
    func protect(_ limits: ProtectionLimits, recordInterval: Double?, channel: ChannelID) async throws
}
