import Synchronization

/// The bench's live record streams: one ring buffer per kind of record.
///
/// Producers (drivers, estimators, the alarm engine) push; consumers (the
/// store, estimation, alarms, status subscribers) each read through their own
/// cursor. The rings are mutex-guarded, so several producers may push to one
/// ring; each stream has a single producer role all the same (drivers for
/// samples and sweeps, and so on).
public final class BenchStreams: Sendable {
    public let samples: RingBuffer<Sample>
    public let sweeps: RingBuffer<Sweep>
    public let events: RingBuffer<BenchEvent>
    public let estimates: RingBuffer<Estimate>
    public let alarms: RingBuffer<Alarm>

    public init(sampleCapacity: Int = 1 << 17, sweepCapacity: Int = 256, eventCapacity: Int = 4096,
                estimateCapacity: Int = 1 << 16, alarmCapacity: Int = 1024) {
        samples = RingBuffer(capacity: sampleCapacity)
        sweeps = RingBuffer(capacity: sweepCapacity)
        events = RingBuffer(capacity: eventCapacity)
        estimates = RingBuffer(capacity: estimateCapacity)
        alarms = RingBuffer(capacity: alarmCapacity)
    }

    /// Closes every ring: readers drain what is left and then stop.
    public func closeAll() {
        samples.close()
        sweeps.close()
        events.close()
        estimates.close()
        alarms.close()
    }
}

/// Per-channel high-water mark of what the store has durably committed.
///
/// The store advances it after each committed transaction; drivers whose
/// instrument keeps a record buffer acknowledge only up to it, so a record is
/// freed on the instrument only once it is safe on disk.
public final class CommitWatermarks: Sendable {
    private let marks = Mutex<[ChannelID: UInt64]>([:])

    public init() {}

    /// Records that every sample of `channel` up to `sequence` is committed.
    public func advance(_ channel: ChannelID, to sequence: UInt64) {
        marks.withLock { m in
            if let old = m[channel], old >= sequence { return }
            m[channel] = sequence
        }
    }

    /// Highest committed sample sequence of `channel`, or nil when none yet.
    public func committed(_ channel: ChannelID) -> UInt64? {
        marks.withLock { $0[channel] }
    }
}

/// State of the link to an instrument, as shown by `cellbench status`.
public struct LinkStatus: Hashable, Sendable, Codable {
    public enum State: String, Sendable, Codable { case connecting, up, down }
    public var state: State
    /// When the link entered this state.
    public var since: Timestamp
    /// The last error seen on this link, if any.
    public var lastError: String?

    public init(state: State, since: Timestamp = .now(), lastError: String? = nil) {
        self.state = state
        self.since = since
        self.lastError = lastError
    }
}

/// Anything that produces bench records: a driven instrument or a simulated bench.
public protocol AcquisitionSource: Sendable {
    /// Instrument name from the configuration.
    var name: String { get }
    /// Acquires until the task is cancelled, publishing into `streams`; handles
    /// its own reconnects. Records held by the instrument are acknowledged only
    /// up to `watermarks`.
    func run(streams: BenchStreams, watermarks: CommitWatermarks) async throws
    /// Present state of the link.
    func linkStatus() -> LinkStatus
}
