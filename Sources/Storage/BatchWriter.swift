import BenchCore
import Foundation
import Synchronization

/// The result of analysing one impedance sweep (Kramers–Kronig verdict,
/// fitted parameters…), stored as JSON text beside the sweep.
public struct SweepAnalysis: Hashable, Sendable {
    public var channel: ChannelID
    /// The analysed sweep's `Sweep.sequence`.
    public var sweepSequence: UInt64
    /// When the analysis was produced, wall clock, ns since the Unix epoch.
    public var updatedWallNs: Int64
    public var resultJSON: String

    public init(channel: ChannelID, sweepSequence: UInt64, updatedWallNs: Int64, resultJSON: String) {
        self.channel = channel
        self.sweepSequence = sweepSequence
        self.updatedWallNs = updatedWallNs
        self.resultJSON = resultJSON
    }
}

/// How the batch writer groups records into transactions.
public struct BatchOptions: Hashable, Sendable {
    /// A batch is committed as soon as it holds this many records…
    public var batchSize: Int
    /// …or this long after its first record arrived, whichever comes first.
    /// On power loss at most this window of received records is lost.
    public var interval: Duration
    /// Pause before retrying a batch whose commit failed (disk full, I/O error, lock held too long).
    public var retryPause: Duration
    /// How long a write waits for a lock held by another connection before it fails (and is retried).
    public var busyTimeout: Duration

    public init(batchSize: Int = 4096, interval: Duration = .milliseconds(50), retryPause: Duration = .seconds(1),
                busyTimeout: Duration = .seconds(5)) {
        self.batchSize = batchSize
        self.interval = interval
        self.retryPause = retryPause
        self.busyTimeout = busyTimeout
    }
}

/// The writer's figures for status and metrics.
public struct StoreCounters: Hashable, Sendable {
    /// New samples committed (re-deliveries not counted).
    public var samples: UInt64 = 0
    /// Re-delivered samples ignored because their (channel, sequence) was already stored, with the same values.
    public var duplicateSamples: UInt64 = 0
    /// Samples not stored because their (channel, sequence) was already stored with different values
    /// (each batch with such samples also stores a `sequence-conflict` error event).
    public var conflictingSamples: UInt64 = 0
    public var sweeps: UInt64 = 0
    public var sweepPoints: UInt64 = 0
    public var events: UInt64 = 0
    public var estimates: UInt64 = 0
    /// Alarm inserts and lifecycle updates.
    public var alarms: UInt64 = 0
    public var analyses: UInt64 = 0
    /// Committed transactions.
    public var batches: UInt64 = 0
    public var lastCommitSeconds: Double = 0
    public var peakCommitSeconds: Double = 0
    /// Records pushed to the rings that the writer has not read yet.
    public var lag: UInt64 = 0
    /// Records read from the rings and waiting in the open batch.
    public var pending: UInt64 = 0
    /// Records overwritten in the rings before the writer read them (lost; each loss is also stored as an event).
    public var missed: UInt64 = 0
    public var failedCommits: UInt64 = 0
    public var lastError: String?

    public init() {}
}

/// Drains the `BenchStreams` rings into the store on its own thread, one
/// transaction per batch, and advances `CommitWatermarks` after each commit.
///
/// SQLite calls block, so they never run on the Swift concurrency pool: the
/// writer owns a dedicated thread, started by `start()` and ended by `finish()`.
public final class BatchWriter: Sendable {
    public let path: String
    public let options: BatchOptions
    private let streams: BenchStreams
    private let watermarks: CommitWatermarks
    /// The connection, nil once closed. Held by the writer thread only while committing.
    private let connection: Mutex<StoreInserts?>
    private let control = Mutex(Control())
    private let stats = Mutex(Stats())
    private let analyses = Mutex<[SweepAnalysis]>([])
    private let startCursors: Cursors

    private struct Control {
        var started = false
        var stopRequested = false
        var finished = false
        var failure: StoreError?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private struct Stats {
        var counters = StoreCounters()
        var positions = Cursors.Positions()
    }

    /// Opens (creating or migrating) the store at `path`. Reading starts at the
    /// oldest record still held in each ring, so nothing pushed before `start()` is skipped.
    public init(path: String, streams: BenchStreams, watermarks: CommitWatermarks, options: BatchOptions = BatchOptions()) throws {
        guard options.batchSize >= 1 else {
            throw StoreError.invalidOption(name: "batch size", value: "\(options.batchSize)", expected: "at least 1")
        }
        for (name, value) in [("interval", options.interval), ("retry pause", options.retryPause),
                              ("busy timeout", options.busyTimeout)] where value <= .zero {
            throw StoreError.invalidOption(name: name, value: "\(value)", expected: "a positive duration")
        }
        self.path = path
        self.options = options
        self.streams = streams
        self.watermarks = watermarks
        connection = Mutex(try StoreInserts(path: path, busyTimeoutMs: Int32(clamping: options.busyTimeout.nanoseconds / 1_000_000)))
        startCursors = Cursors(streams)
    }

    /// Adds a channel to the store, or updates its description, and returns it
    /// with its store identifier: the `ChannelID` its records must carry.
    /// Identifiers are stable: a channel keeps its id across restarts and reconfigurations.
    /// Blocks on the database; call it at start-up, off the concurrency pool.
    public func registerChannel(name: String, instrument: String, instrumentChannel: Int, ratedCapacityAh: Double = 0) throws -> ChannelInfo {
        let id = try connection.withLock { inserts in
            guard let inserts else { throw StoreError.closed(path: path) }
            return try inserts.db.writeTransaction {
                try inserts.register(name: name, instrument: instrument, instrumentChannel: instrumentChannel,
                                     ratedCapacityAh: ratedCapacityAh)
            }
        }
        return ChannelInfo(id: id, name: name, instrument: instrument, instrumentChannel: instrumentChannel,
                           ratedCapacityAh: ratedCapacityAh)
    }

    /// Saves a channel's schedule and position in a transaction of its own,
    /// committed (and fsynced) before returning, so a command sent after it
    /// is never ahead of what a restarted daemon will resume from.
    /// Blocks on the database: call it off the concurrency pool.
    public func save(_ schedule: StoredSchedule) throws {
        try connection.withLock { inserts in
            guard let inserts else { throw StoreError.closed(path: path) }
            try inserts.db.writeTransaction { try inserts.save(schedule) }
        }
    }

    /// Queues a sweep analysis; it is written with the next batch.
    public func submit(_ analysis: SweepAnalysis) {
        analyses.withLock { $0.append(analysis) }
    }

    /// Starts the writer thread (once; later calls do nothing).
    public func start() {
        let first = control.withLock { c in
            defer { c.started = true }
            return !c.started
        }
        guard first else { return }
        let thread = Thread { [self] in run() }
        thread.name = "cellbench-store"
        thread.start()
    }

    /// Call after the producers have stopped: drains every ring, commits what is
    /// left, checkpoints the WAL and closes the store. Returns the final counters.
    /// - Throws: `StoreError.unflushed` when the last records could not be committed.
    @discardableResult
    public func finish() async throws -> StoreCounters {
        start()
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let finished = control.withLock { c in
                c.stopRequested = true
                if !c.finished { c.waiters.append(waiter) }
                return c.finished
            }
            if finished { waiter.resume() }
        }
        if let failure = control.withLock({ $0.failure }) { throw failure }
        return counters
    }

    /// A consistent snapshot of the writer's figures.
    public var counters: StoreCounters {
        let (c, positions) = stats.withLock { ($0.counters, $0.positions) }
        var snapshot = c
        snapshot.lag = positions.lag(streams)
        return snapshot
    }

    // MARK: - Writer thread

    private func run() {
        var state = WriterState(options: options, cursors: startCursors)
        while true {
            let stopping = control.withLock { $0.stopRequested } || streams.allClosed
            read(into: &state)
            let now = BenchClock.monotonicNs()
            if !state.batch.isEmpty && state.openedAt == nil { state.openedAt = now }
            let full = state.batch.count >= options.batchSize
            let due = state.openedAt.map { now - $0 >= options.interval.nanoseconds } ?? false
            if full || due || (stopping && !state.batch.isEmpty) {
                if commit(&state) { continue }
                if stopping && state.failedWhileStopping >= 3 { break }
                sleep(options.retryPause)
                continue
            }
            if stopping && !state.cursors.hasData(streams) { break }
            if !stopping { sleep(state.tick) }
        }
        close(leaving: state.batch.count + Int(state.cursors.positions.lag(streams)))
    }

    /// Moves whatever the rings hold into the open batch, samples up to the batch size.
    private func read(into state: inout WriterState) {
        let room = max(0, options.batchSize - state.batch.count)
        if room > 0 {
            let missed: UInt64
            if state.batch.samples.isEmpty {
                // The usual case under load: straight into the batch, one copy fewer.
                missed = streams.samples.read(&state.cursors.samples, into: &state.batch.samples, maximum: room)
            } else {
                missed = streams.samples.read(&state.cursors.samples, into: &state.scratch, maximum: room)
                state.batch.samples.append(contentsOf: state.scratch)
            }
            if missed > 0 {
                state.recordLoss(missed, of: "samples")
                state.holdWatermarks()
            }
        }
        state.drain(streams.sweeps, at: \.sweeps, into: \.sweeps, kind: "sweeps")
        state.drain(streams.events, at: \.events, into: \.events, kind: "events")
        state.drain(streams.estimates, at: \.estimates, into: \.estimates, kind: "estimates")
        state.drain(streams.alarms, at: \.alarms, into: \.alarms, kind: "alarm updates")
        analyses.withLock { queued in
            state.batch.analyses.append(contentsOf: queued)
            queued.removeAll(keepingCapacity: true)
        }
        let positions = state.cursors.positions
        stats.withLock { s in
            s.positions = positions
            s.counters.pending = UInt64(state.batch.count)
            s.counters.missed = state.missed
        }
    }

    /// Writes the open batch in one transaction. On success advances the
    /// watermarks and empties the batch; on failure keeps it for a retry.
    private func commit(_ state: inout WriterState) -> Bool {
        let started = BenchClock.monotonicNs()
        var tally = StoreCounters()
        var watermarkError: (any Error)?
        let outcome: Result<Void, any Error> = connection.withLock { inserts in
            guard let inserts else { return .failure(StoreError.closed(path: path)) }
            state.batchHigh.removeAll(keepingCapacity: true)
            let committed = Result {
                try inserts.db.writeTransaction {
                    try write(state.batch, with: inserts, tally: &tally, high: &state.batchHigh)
                }
            }
            // The batch is durable whatever happens next: a failure here must not make it be written twice.
            if case .success = committed {
                do { try advanceWatermarks(&state, inserts) } catch { watermarkError = error }
            }
            return committed
        }
        let seconds = Double(BenchClock.monotonicNs() - started) / 1e9
        if let watermarkError {
            stats.withLock { $0.counters.lastError = "advancing commit watermarks: \(watermarkError)" }
        }
        switch outcome {
        case .success:
            stats.withLock { s in
                s.counters.add(tally)
                s.counters.batches += 1
                s.counters.lastCommitSeconds = seconds
                s.counters.peakCommitSeconds = max(s.counters.peakCommitSeconds, seconds)
                s.counters.pending = 0
            }
            state.batch.removeAll()
            state.openedAt = nil
            return true
        case .failure(let error):
            stats.withLock { s in
                s.counters.failedCommits += 1
                s.counters.lastError = "\(error)"
            }
            if control.withLock({ $0.stopRequested }) { state.failedWhileStopping += 1 }
            return false
        }
    }

    private func write(_ batch: Batch, with inserts: StoreInserts, tally: inout StoreCounters,
                       high: inout [ChannelID: UInt64]) throws {
        var firstConflict: Sample?
        // Wall-time bounds of the blocks this batch adds to (one row per channel, not per sample).
        var blocks: [SampleBlockKey: (min: Int64, max: Int64)] = [:]
        for s in batch.samples {
            if try inserts.insert(s) {
                tally.samples += 1
                let key = SampleBlockKey(s)
                let bounds = blocks[key] ?? (s.time.wallNs, s.time.wallNs)
                blocks[key] = (min(bounds.min, s.time.wallNs), max(bounds.max, s.time.wallNs))
            } else if try inserts.matchesStored(s) {
                tally.duplicateSamples += 1
            } else {
                tally.conflictingSamples += 1
                firstConflict = firstConflict ?? s
                continue
            }
            if let h = high[s.channel], h >= s.sequence { continue }
            high[s.channel] = s.sequence
        }
        for (key, bounds) in blocks { try inserts.extendBlock(key, minWallNs: bounds.min, maxWallNs: bounds.max) }
        if let first = firstConflict {
            try inserts.insert(BenchEvent(
                channel: first.channel, severity: .error, kind: "sequence-conflict",
                message: "\(tally.conflictingSamples) samples were not stored: their (channel, sequence) is already stored "
                    + "with different values (first: channel \(first.channel) sequence \(first.sequence)); "
                    + "an instrument restarted its numbering and the samples need new sequence numbers"))
            tally.events += 1
        }
        for s in batch.sweeps {
            guard let points = try inserts.insert(s) else { continue }
            tally.sweeps += 1
            tally.sweepPoints += UInt64(points)
        }
        for e in batch.events { try inserts.insert(e) }
        tally.events += UInt64(batch.events.count)
        for e in batch.estimates { try inserts.insert(e) }
        tally.estimates += UInt64(batch.estimates.count)
        for a in batch.alarms { try inserts.upsert(a) }
        tally.alarms += UInt64(batch.alarms.count)
        for a in batch.analyses { try inserts.upsert(a) }
        tally.analyses += UInt64(batch.analyses.count)
    }

    /// After a commit: each channel's watermark moves to the highest sequence
    /// just committed, except for channels held since a ring overrun, whose
    /// lost samples lie somewhere after their watermark. A held channel moves
    /// only along the unbroken run of stored sequences after its watermark, so
    /// an instrument is never told to free a record the store does not have.
    private func advanceWatermarks(_ state: inout WriterState, _ inserts: StoreInserts) throws {
        for (channel, high) in state.batchHigh {
            let seen = max(state.seenHigh[channel] ?? 0, high)
            state.seenHigh[channel] = seen
            guard state.held.contains(channel) else {
                watermarks.advance(channel, to: high)
                continue
            }
            let mark = watermarks.committed(channel) ?? 0
            guard let end = try inserts.contiguousEnd(channel: channel, after: mark) else { continue }
            watermarks.advance(channel, to: end)
            if end >= seen { state.held.remove(channel) }
        }
    }

    private func close(leaving unflushed: Int) {
        let failure: StoreError? = connection.withLock { inserts in
            defer { inserts = nil }
            if unflushed > 0 {
                let cause = stats.withLock { $0.counters.lastError } ?? "unknown error"
                return .unflushed(records: unflushed, path: path, cause: cause)
            }
            do {
                // Fold the WAL back into the main file so the store is one self-contained file at rest.
                try inserts?.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            } catch {
                stats.withLock { $0.counters.lastError = "\(error)" }
            }
            return nil
        }
        let waiters = control.withLock { c in
            c.finished = true
            c.failure = failure
            defer { c.waiters.removeAll() }
            return c.waiters
        }
        waiters.forEach { $0.resume() }
    }

    private func sleep(_ duration: Duration) {
        let ns = max(0, duration.nanoseconds)
        var request = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

// MARK: - Writer thread state

/// One batch of records on its way to a transaction.
private struct Batch {
    var samples: [Sample] = []
    var sweeps: [Sweep] = []
    var events: [BenchEvent] = []
    var estimates: [Estimate] = []
    var alarms: [Alarm] = []
    var analyses: [SweepAnalysis] = []

    var count: Int { samples.count + sweeps.count + events.count + estimates.count + alarms.count + analyses.count }
    var isEmpty: Bool { count == 0 }

    mutating func removeAll() {
        samples.removeAll(keepingCapacity: true)
        sweeps.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
        estimates.removeAll(keepingCapacity: true)
        alarms.removeAll(keepingCapacity: true)
        analyses.removeAll(keepingCapacity: true)
    }
}

/// The writer's read positions, one per ring.
private struct Cursors {
    var samples: RingCursor
    var sweeps: RingCursor
    var events: RingCursor
    var estimates: RingCursor
    var alarms: RingCursor

    init(_ streams: BenchStreams) {
        samples = streams.samples.makeCursor(at: .oldest)
        sweeps = streams.sweeps.makeCursor(at: .oldest)
        events = streams.events.makeCursor(at: .oldest)
        estimates = streams.estimates.makeCursor(at: .oldest)
        alarms = streams.alarms.makeCursor(at: .oldest)
    }

    struct Positions {
        var samples: UInt64 = 0, sweeps: UInt64 = 0, events: UInt64 = 0, estimates: UInt64 = 0, alarms: UInt64 = 0

        /// Records pushed but not yet read.
        func lag(_ streams: BenchStreams) -> UInt64 {
            func behind(_ written: UInt64, _ position: UInt64) -> UInt64 { written > position ? written - position : 0 }
            return behind(streams.samples.written, samples) + behind(streams.sweeps.written, sweeps)
                + behind(streams.events.written, events) + behind(streams.estimates.written, estimates)
                + behind(streams.alarms.written, alarms)
        }
    }

    var positions: Positions {
        Positions(samples: samples.position, sweeps: sweeps.position, events: events.position,
                  estimates: estimates.position, alarms: alarms.position)
    }

    func hasData(_ streams: BenchStreams) -> Bool { positions.lag(streams) > 0 }
}

/// Everything the writer thread keeps between iterations; allocated once.
private struct WriterState {
    var cursors: Cursors
    var batch = Batch()
    var scratch: [Sample] = []
    /// Monotonic time the open batch received its first record.
    var openedAt: Int64?
    /// Highest sample sequence per channel in the batch being committed.
    var batchHigh: [ChannelID: UInt64] = [:]
    /// Highest sample sequence per channel committed so far.
    var seenHigh: [ChannelID: UInt64] = [:]
    /// Channels whose watermark may only follow unbroken runs (see `advanceWatermarks`).
    var held: Set<ChannelID> = []
    var failedWhileStopping = 0
    /// Records lost through ring overruns so far.
    var missed: UInt64 = 0
    let tick: Duration

    init(options: BatchOptions, cursors: Cursors) {
        self.cursors = cursors
        batch.samples.reserveCapacity(options.batchSize)
        scratch.reserveCapacity(options.batchSize)
        batchHigh.reserveCapacity(256)
        // Poll often enough that a lone record is committed within about one interval.
        tick = min(max(options.interval / 5, .milliseconds(1)), .milliseconds(10))
    }

    /// Reads a small ring entirely into the batch, recording any loss.
    mutating func drain<T>(_ ring: RingBuffer<T>, at cursor: WritableKeyPath<Cursors, RingCursor>,
                           into list: WritableKeyPath<Batch, [T]>, kind: String) {
        guard ring.hasData(after: cursors[keyPath: cursor]) else { return }
        var chunk: [T] = []
        let missed = ring.read(&cursors[keyPath: cursor], into: &chunk)
        batch[keyPath: list].append(contentsOf: chunk)
        if missed > 0 { recordLoss(missed, of: kind) }
    }

    /// A ring overran the writer: the loss is stored as an error event, never silent.
    mutating func recordLoss(_ missed: UInt64, of kind: String) {
        batch.events.append(BenchEvent(
            channel: nil, severity: .error, kind: "store-overrun",
            message: "the store fell behind and \(missed) \(kind) were overwritten in the ring before they were stored; they are lost"))
        self.missed += missed
    }

    /// After a sample overrun every channel is held: the lost samples may belong to any of them.
    mutating func holdWatermarks() {
        held.formUnion(seenHigh.keys)
        for s in batch.samples { held.insert(s.channel) }
    }
}

extension StoreCounters {
    fileprivate mutating func add(_ t: StoreCounters) {
        samples += t.samples
        duplicateSamples += t.duplicateSamples
        conflictingSamples += t.conflictingSamples
        sweeps += t.sweeps
        sweepPoints += t.sweepPoints
        events += t.events
        estimates += t.estimates
        alarms += t.alarms
        analyses += t.analyses
    }
}

extension BenchStreams {
    fileprivate var allClosed: Bool {
        samples.isClosed && sweeps.isClosed && events.isClosed && estimates.isClosed && alarms.isClosed
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
