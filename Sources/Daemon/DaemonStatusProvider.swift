import BenchCore
import StatusServer
import Storage
import Synchronization

/// Tracks whether the store keeps up: when it last made progress and whether
/// records are waiting. Feeds `status`, `/metrics` and the watchdog.
final class StoreProgress: Sendable {
    private struct State {
        var lastBatches: UInt64 = 0
        var lastProgressNs: Int64 = BenchClock.monotonicNs()
        var counters = StoreCounters()
    }
    private let state = Mutex(State())
    let writer: BatchWriter
    /// Records waiting this long without a commit make the pipeline unhealthy.
    let stallLimitSeconds: Double

    init(writer: BatchWriter, stallLimitSeconds: Double = 10) {
        self.writer = writer
        self.stallLimitSeconds = stallLimitSeconds
    }

    /// Reads the writer's counters; call about once a second.
    @discardableResult
    func refresh() -> StoreCounters {
        let counters = writer.counters
        let now = BenchClock.monotonicNs()
        state.withLock { s in
            if counters.batches != s.lastBatches || counters.lag == 0 { s.lastProgressNs = now }
            s.lastBatches = counters.batches
            s.counters = counters
        }
        return counters
    }

    var counters: StoreCounters { state.withLock { $0.counters } }

    /// Seconds that waiting records have gone without a commit (0 when nothing waits).
    var stalledSeconds: Double {
        state.withLock { s in
            s.counters.lag == 0 ? 0 : Double(BenchClock.monotonicNs() - s.lastProgressNs) / 1e9
        }
    }
}

/// What `cellbench status` and `history` requests see of the daemon.
struct DaemonStatusProvider: StatusProvider {
    let channelList: [ChannelInfo]
    let sources: [any AcquisitionSource]
    let streams: BenchStreams
    let live: LiveView
    let schedules: ScheduleService
    let store: StoreProgress
    let storePath: String
    let reads: BlockingQueue
    let startedNs: Int64

    func channels() -> [ChannelInfo] { channelList }

    func snapshot() async -> StatusSnapshot {
        let counters = store.counters
        let channelStatus = channelList.map { info in
            let latest = live.latest(info.id)
            return ChannelStatus(name: info.name, instrument: info.instrument, state: Self.state(of: latest),
                                 latest: latest.map { SampleFields($0, channel: info.name) }, soc: live.soc(info.id),
                                 schedule: schedules.status(info.id))
        }
        let instruments = sources.map { source in
            let link = source.linkStatus()
            return InstrumentStatus(name: source.name, link: link.state.rawValue, lastError: link.lastError,
                                    lastErrorTime: link.lastError == nil ? nil : link.since.wallSeconds)
        }
        return StatusSnapshot(
            uptime: Double(BenchClock.monotonicNs() - startedNs) / 1e9,
            channels: channelStatus,
            instruments: instruments,
            counters: Self.counters(streams: streams, store: counters),
            storeLag: StoreLag(pendingRecords: Int(counters.lag), seconds: store.stalledSeconds))
    }

    func schedule(_ request: ScheduleRequest) async throws -> ScheduleStatus {
        try await schedules.handle(request)
    }

    func history(_ query: HistoryQuery) async throws -> [HistoryRecord] {
        let path = storePath
        return try await reads.run {
            let reader = try StoreReader(path: path)
            return try Self.read(query, from: reader)
        }
    }

    private static func read(_ query: HistoryQuery, from reader: StoreReader) throws -> [HistoryRecord] {
        let from = query.from.map { Int64($0 * 1e9) }
        let to = query.to.map { Int64($0 * 1e9) }
        let channels = try query.channel.map { [$0] } ?? reader.channels().map(\.id)
        var records: [HistoryRecord] = []
        switch query.stream {
        case .samples:
            for channel in channels {
                records += try reader.samples(channel: channel, from: from, to: to, limit: query.limit).map(HistoryRecord.sample)
            }
        case .sweeps:
            for channel in channels {
                records += try reader.sweeps(channel: channel, from: from, to: to, limit: query.limit).map { .sweep($0.sweep) }
            }
        case .estimates:
            for channel in channels {
                records += try reader.estimates(channel: channel, from: from, to: to, limit: query.limit).map(HistoryRecord.estimate)
            }
        case .events:
            records = try reader.events(channel: query.channel, from: from, to: to, limit: query.limit).map(HistoryRecord.event)
        case .alarms:
            records = try reader.alarms().filter { query.channel == nil || $0.channel == query.channel }.map(HistoryRecord.alarm)
        }
        return Array(records.prefix(query.limit))
    }

    /// What a channel is doing, from the sign of its latest current.
    static func state(of sample: Sample?) -> String {
        guard let sample else { return "no data" }
        let age = Double(BenchClock.wallNs() - sample.time.wallNs) / 1e9
        if age > 30 { return "stale" }
        if abs(sample.current) < 1e-6 { return "rest" }
        return sample.current > 0 ? "charge" : "discharge"
    }

    static func counters(streams: BenchStreams, store: StoreCounters) -> [String: Double] {
        [
            "samples_received": Double(streams.samples.written),
            "sweeps_received": Double(streams.sweeps.written),
            "events_received": Double(streams.events.written),
            "estimates_received": Double(streams.estimates.written),
            "samples_committed": Double(store.samples),
            "duplicate_samples_ignored": Double(store.duplicateSamples),
            "sweeps_committed": Double(store.sweeps),
            "events_committed": Double(store.events),
            "store_batches": Double(store.batches),
            "store_last_commit_seconds": store.lastCommitSeconds,
            "store_peak_commit_seconds": store.peakCommitSeconds,
            "store_records_missed": Double(store.missed),
            "store_failed_commits": Double(store.failedCommits),
        ]
    }
}
