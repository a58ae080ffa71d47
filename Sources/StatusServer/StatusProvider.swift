import BenchCore

/// What the status server asks of the daemon: a live snapshot, stored history
/// and the channel names. The daemon implements it; the server never reaches
/// into acquisition or storage by itself.
///
/// Called from Swift concurrency tasks (never from an event loop), so an
/// implementation may `await` its actors; it must not block the calling thread.
public protocol StatusProvider: Sendable {
    /// The bench as it is now.
    func snapshot() async -> StatusSnapshot
    /// Stored records matching `query`, oldest first, at most `query.limit`.
    /// Throw an error whose description says what went wrong; it is sent to the client.
    func history(_ query: HistoryQuery) async throws -> [HistoryRecord]
    /// Every configured channel. Used to translate channel names in requests
    /// and channel ids in records; cheap and non-blocking.
    func channels() -> [ChannelInfo]
    /// Acknowledges an active alarm on behalf of `user`, returning it in its new state.
    /// Throw an error whose description says why not; it is sent to the client.
    func acknowledge(alarm id: Int64, by user: String, note: String) async throws -> Alarm
    /// Runs, stops, pauses or resumes a channel's test schedule; returns its new state.
    /// Throw an error whose description says why not; it is sent to the client.
    func schedule(_ request: ScheduleRequest) async throws -> ScheduleStatus
}

extension StatusProvider {
    public func acknowledge(alarm id: Int64, by user: String, note: String) async throws -> Alarm {
        throw AcknowledgementUnavailable()
    }

    public func schedule(_ request: ScheduleRequest) async throws -> ScheduleStatus {
        throw SchedulesUnavailable()
    }

    public func channel(named name: String) -> ChannelInfo? {
        channels().first { $0.name == name }
    }
}

/// The record streams a client can subscribe to or query.
public enum StreamKind: String, Sendable, Codable, CaseIterable {
    case samples, sweeps, estimates, alarms, events
}

/// Everything `status` reports. All quantities SI; times are wall-clock
/// seconds since the Unix epoch.
public struct StatusSnapshot: Sendable, Codable, Equatable {
    public var time: Double
    /// Seconds since the daemon started.
    public var uptime: Double
    public var channels: [ChannelStatus]
    public var instruments: [InstrumentStatus]
    /// Named counters (records ingested, gaps, reconnects, ...).
    public var counters: [String: Double]
    public var storeLag: StoreLag

    public init(time: Double = Timestamp.now().wallSeconds, uptime: Double, channels: [ChannelStatus],
                instruments: [InstrumentStatus], counters: [String: Double], storeLag: StoreLag) {
        self.time = time
        self.uptime = uptime
        self.channels = channels
        self.instruments = instruments
        self.counters = counters
        self.storeLag = storeLag
    }
}

/// One channel's latest values.
public struct ChannelStatus: Sendable, Codable, Equatable {
    public var name: String
    public var instrument: String
    /// What the channel is doing, e.g. `rest`, `cc-charge`, `eis`, `idle`, `fault`.
    public var state: String
    /// Latest sample, or nil when none was received yet.
    public var latest: SampleFields?
    /// Latest state-of-charge estimate, 0…1 (nil when none).
    public var soc: Double?
    /// The channel's test schedule (nil when it never ran one).
    public var schedule: ScheduleStatus?

    public init(name: String, instrument: String, state: String, latest: SampleFields?, soc: Double? = nil, schedule: ScheduleStatus? = nil) {
        self.name = name
        self.instrument = instrument
        self.state = state
        self.latest = latest
        self.soc = soc
        self.schedule = schedule
    }
}

/// An instrument's connection.
public struct InstrumentStatus: Sendable, Codable, Equatable {
    public var name: String
    /// Link state as text: `up`, `connecting`, `down`, ...
    public var link: String
    public var lastError: String?
    /// When `lastError` happened, wall s.
    public var lastErrorTime: Double?

    public init(name: String, link: String, lastError: String? = nil, lastErrorTime: Double? = nil) {
        self.name = name
        self.link = link
        self.lastError = lastError
        self.lastErrorTime = lastErrorTime
    }
}

/// How far the durable store trails acquisition.
public struct StoreLag: Sendable, Codable, Equatable {
    /// Records received but not yet committed.
    public var pendingRecords: Int
    /// Age of the oldest uncommitted record, s.
    public var seconds: Double

    public init(pendingRecords: Int, seconds: Double) {
        self.pendingRecords = pendingRecords
        self.seconds = seconds
    }
}

/// A `history` request after validation: the channel name is already resolved.
public struct HistoryQuery: Sendable, Equatable {
    public var stream: StreamKind
    /// Only this channel, or every channel when nil.
    public var channel: ChannelID?
    /// Inclusive bounds, wall s since the Unix epoch.
    public var from: Double?
    public var to: Double?
    public var limit: Int

    public init(stream: StreamKind, channel: ChannelID? = nil, from: Double? = nil, to: Double? = nil, limit: Int) {
        self.stream = stream
        self.channel = channel
        self.from = from
        self.to = to
        self.limit = limit
    }
}

/// One stored record, in the daemon's own types.
public enum HistoryRecord: Sendable, Equatable {
    case sample(Sample)
    case sweep(Sweep)
    case estimate(Estimate)
    case alarm(Alarm)
    case event(BenchEvent)
}

/// The server runs without an alarm engine, so nothing can be acknowledged.
public struct AcknowledgementUnavailable: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "this server has no alarm engine; nothing can be acknowledged" }
}
