/// Identity of one measurement channel on the bench.
///
/// A channel is one cell position: a cycler channel, a galvanostat, or a
/// simulated cell. The store assigns each channel name a small integer once and
/// keeps it across restarts and reconfiguration, so hot-path records carry an
/// integer instead of a string; the human-readable name lives in `ChannelInfo`.
public struct ChannelID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ value: Int) { self.rawValue = Int32(truncatingIfNeeded: value) }
    public static func < (a: ChannelID, b: ChannelID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// Static description of a configured channel.
public struct ChannelInfo: Hashable, Sendable, Codable {
    public var id: ChannelID
    /// Name used in configuration, CLI and exports (for example `A01`).
    public var name: String
    /// Name of the instrument that measures this channel.
    public var instrument: String
    /// Channel index within that instrument (0-based).
    public var instrumentChannel: Int
    /// Rated capacity of the cell on this channel, Ah (0 when unknown).
    public var ratedCapacityAh: Double

    public init(id: ChannelID, name: String, instrument: String, instrumentChannel: Int, ratedCapacityAh: Double = 0) {
        self.id = id
        self.name = name
        self.instrument = instrument
        self.instrumentChannel = instrumentChannel
        self.ratedCapacityAh = ratedCapacityAh
    }
}
