import BenchCore

/// A sweep as stored, with its store identifier and its analysis when there is one.
public struct StoredSweep: Hashable, Sendable {
    public var id: Int64
    public var sweep: Sweep
    /// JSON text of the latest `SweepAnalysis` of this sweep.
    public var analysisJSON: String?
}

/// Order of rows returned by time-range queries.
public enum TimeOrder: Sendable {
    case oldestFirst, newestFirst
    fileprivate var sql: String { self == .oldestFirst ? "ASC" : "DESC" }
}

/// Read-only queries on a store, through a connection of its own (WAL lets it
/// read while the writer commits; each query sees one committed state).
///
/// Times in and out are integer nanoseconds: `Timestamp` in records, and
/// wall-clock ns since the Unix epoch for the inclusive `from`/`to` bounds.
/// Calls block on the database: use a reader from one thread at a time, off
/// the Swift concurrency pool (a dedicated thread or a thread pool).
public final class StoreReader {
    public let path: String
    let db: SQLiteDatabase

    /// Opens an existing store. An older store is migrated first (one short
    /// write transaction); a newer one is refused with `StoreError.newerSchema`.
    public init(path: String) throws {
        self.path = path
        db = try StoreSchema.open(path: path, create: false)
        try db.execute("PRAGMA query_only = ON")
    }

    // MARK: Channels

    public func channels() throws -> [ChannelInfo] {
        try rows("SELECT id, name, instrument, instrument_channel, rated_capacity_ah FROM channels ORDER BY id", channelInfo)
    }

    /// The channel called `name`; throws `StoreError.unknownChannel` when there is none.
    public func channel(named name: String) throws -> ChannelInfo {
        let found = try rows("""
            SELECT id, name, instrument, instrument_channel, rated_capacity_ah FROM channels WHERE name = ?1
            """, bind: { try $0.bind(1, name) }, channelInfo)
        guard let channel = found.first else { throw StoreError.unknownChannel(name: name, path: path) }
        return channel
    }

    // MARK: Samples

    /// Calls `body` for each sample of `channel` with wall time in `from...to`,
    /// in acquisition (sequence) order, without loading them all.
    /// The block index (`sample_blocks`) narrows the search to the sequence
    /// ranges whose wall times overlap the range; rows then stream through the
    /// primary key, so the cost follows the samples of this channel in range.
    public func forEachSample(channel: ChannelID, from: Int64? = nil, to: Int64? = nil, order: TimeOrder = .oldestFirst,
                              limit: Int? = nil, _ body: (Sample) throws -> Void) throws {
        let blocks = try db.prepare("""
            SELECT min(block), max(block) FROM sample_blocks
            WHERE channel = ?1 AND max_wall_ns >= ?2 AND min_wall_ns <= ?3
            """)
        try blocks.bind(1, Int64(channel.rawValue))
        try blocks.bind(2, from ?? Int64.min)
        try blocks.bind(3, to ?? Int64.max)
        guard try blocks.step(), !blocks.isNull(0) else { return }
        let first = blocks.int64(0) << Int64(StoreSchema.blockShift)
        let last = ((blocks.int64(1) + 1) << Int64(StoreSchema.blockShift)) - 1
        let statement = try db.prepare("""
            SELECT channel, sequence, monotonic_ns, wall_ns, instrument_time_s, voltage_v, current_a, temperature_c, charge_ah
            FROM samples WHERE channel = ?1 AND sequence BETWEEN ?5 AND ?6 AND wall_ns BETWEEN ?2 AND ?3
            ORDER BY sequence \(order.sql) LIMIT ?4
            """)
        try bindRange(statement, channel: channel, from: from, to: to, limit: limit)
        try statement.bind(5, first)
        try statement.bind(6, last)
        while try statement.step() {
            try body(Sample(
                channel: statement.channel(0), sequence: UInt64(bitPattern: statement.int64(1)),
                time: statement.timestamp(2, 3),
                instrumentTime: statement.double(4), voltage: statement.double(5), current: statement.double(6),
                temperature: statement.double(7), charge: statement.double(8)))
        }
    }

    public func samples(channel: ChannelID, from: Int64? = nil, to: Int64? = nil, order: TimeOrder = .oldestFirst,
                        limit: Int? = nil) throws -> [Sample] {
        var result: [Sample] = []
        try forEachSample(channel: channel, from: from, to: to, order: order, limit: limit) { result.append($0) }
        return result
    }

    /// Highest stored sample sequence of every channel that has samples:
    /// where a driver resumes after a restart.
    public func latestSampleSequences() throws -> [ChannelID: UInt64] {
        let pairs = try rows("SELECT channel, max(sequence) FROM samples GROUP BY channel") { s in
            (s.channel(0), UInt64(bitPattern: s.int64(1)))
        }
        return Dictionary(pairs, uniquingKeysWith: max)
    }

    // MARK: Sweeps

    /// Sweeps of `channel` started within `from...to`, with their points and analysis.
    public func sweeps(channel: ChannelID, from: Int64? = nil, to: Int64? = nil, order: TimeOrder = .oldestFirst,
                       limit: Int? = nil) throws -> [StoredSweep] {
        let statement = try db.prepare("""
            SELECT s.id, s.channel, s.sequence, s.started_monotonic_ns, s.started_wall_ns, s.finished_monotonic_ns,
                   s.finished_wall_ns, s.mode, s.amplitude, s.bias, s.start_frequency_hz, s.stop_frequency_hz,
                   s.points_per_decade, s.cycles_per_point, s.status, a.result_json
            FROM sweeps AS s
            LEFT JOIN sweep_analyses AS a ON a.channel = s.channel AND a.sweep_sequence = s.sequence
            WHERE s.channel = ?1 AND s.started_wall_ns BETWEEN ?2 AND ?3
            ORDER BY s.started_wall_ns \(order.sql), s.sequence \(order.sql) LIMIT ?4
            """)
        try bindRange(statement, channel: channel, from: from, to: to, limit: limit)
        var result: [StoredSweep] = []
        while try statement.step() {
            let settings = SweepSettings(
                mode: SweepSettings.Mode(rawValue: statement.text(7) ?? "") ?? .galvanostatic,
                amplitude: statement.double(8), bias: statement.double(9),
                startFrequency: statement.double(10), stopFrequency: statement.double(11),
                pointsPerDecade: Int(statement.int64(12)), cyclesPerPoint: Int(statement.int64(13)))
            let sweep = Sweep(
                channel: statement.channel(1), sequence: UInt64(bitPattern: statement.int64(2)),
                started: statement.timestamp(3, 4), finished: statement.timestamp(5, 6),
                settings: settings, points: [],
                status: Sweep.Status(rawValue: statement.text(14) ?? "") ?? .aborted)
            result.append(StoredSweep(id: statement.int64(0), sweep: sweep, analysisJSON: statement.text(15)))
        }
        for index in result.indices {
            result[index].sweep.points = try points(ofSweep: result[index].id)
        }
        return result
    }

    private func points(ofSweep id: Int64) throws -> [ImpedancePoint] {
        try rows("""
            SELECT frequency_hz, z_real_ohm, z_imag_ohm, dc_voltage_v, dc_current_a
            FROM sweep_points WHERE sweep = ?1 ORDER BY position
            """, bind: { try $0.bind(1, id) }) { s in
            ImpedancePoint(frequency: s.double(0), zReal: s.double(1), zImag: s.double(2),
                           dcVoltage: s.double(3), dcCurrent: s.double(4))
        }
    }

    // MARK: Events and estimates

    /// Events within `from...to`: of one channel, or of the whole bench when `channel` is nil.
    public func events(channel: ChannelID? = nil, from: Int64? = nil, to: Int64? = nil, order: TimeOrder = .oldestFirst,
                       limit: Int? = nil) throws -> [BenchEvent] {
        let statement = try db.prepare("""
            SELECT channel, monotonic_ns, wall_ns, severity, kind, message, instrument FROM events
            WHERE (?1 IS NULL OR channel = ?1) AND wall_ns BETWEEN ?2 AND ?3
            ORDER BY wall_ns \(order.sql), id \(order.sql) LIMIT ?4
            """)
        try statement.bind(1, channel.map { Int64($0.rawValue) })
        try bindRange(statement, from: from, to: to, limit: limit)
        var result: [BenchEvent] = []
        while try statement.step() {
            result.append(BenchEvent(
                channel: statement.isNull(0) ? nil : statement.channel(0), time: statement.timestamp(1, 2),
                severity: BenchEvent.Severity(rawValue: statement.text(3) ?? "") ?? .error,
                kind: statement.text(4) ?? "", message: statement.text(5) ?? "", instrument: statement.text(6)))
        }
        return result
    }

    /// Estimates of `channel` within `from...to`, of one quantity or of all when `quantity` is nil.
    public func estimates(channel: ChannelID, quantity: String? = nil, from: Int64? = nil, to: Int64? = nil,
                          order: TimeOrder = .oldestFirst, limit: Int? = nil) throws -> [Estimate] {
        let statement = try db.prepare("""
            SELECT channel, monotonic_ns, wall_ns, quantity, value, sigma, source FROM estimates
            WHERE channel = ?1 AND wall_ns BETWEEN ?2 AND ?3 AND (?5 IS NULL OR quantity = ?5)
            ORDER BY wall_ns \(order.sql), id \(order.sql) LIMIT ?4
            """)
        try bindRange(statement, channel: channel, from: from, to: to, limit: limit)
        try statement.bind(5, quantity)
        var result: [Estimate] = []
        while try statement.step() {
            result.append(Estimate(
                channel: statement.channel(0), time: statement.timestamp(1, 2),
                quantity: statement.text(3) ?? "", value: statement.double(4), sigma: statement.double(5),
                source: statement.text(6) ?? ""))
        }
        return result
    }

    // MARK: Alarms

    private static let alarmColumns = """
        SELECT id, channel, rule, severity, state, message, raised_monotonic_ns, raised_wall_ns, acknowledged_by,
               acknowledged_monotonic_ns, acknowledged_wall_ns, note, cleared_monotonic_ns, cleared_wall_ns
        FROM alarms
        """

    /// Alarms in any of `states` (all alarms by default), oldest first.
    public func alarms(in states: Set<Alarm.State> = [.active, .acknowledged, .cleared]) throws -> [Alarm] {
        // The states are the enum's own raw values, never user text, so they can be spelled into the SQL.
        let list = states.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")
        return try rows("\(Self.alarmColumns) WHERE state IN (\(list)) ORDER BY raised_wall_ns, id", alarm)
    }

    public func alarm(id: Int64) throws -> Alarm? {
        try rows("\(Self.alarmColumns) WHERE id = ?1", bind: { try $0.bind(1, id) }, alarm).first
    }

    /// Highest alarm id in the store (0 when none): the alarm engine numbers new alarms after it.
    public func highestAlarmID() throws -> Int64 {
        try db.integer("SELECT coalesce(max(id), 0) FROM alarms")
    }

    // MARK: Row decoding

    private func rows<T>(_ sql: String, bind: (SQLiteStatement) throws -> Void = { _ in },
                         _ decode: (SQLiteStatement) -> T) throws -> [T] {
        let statement = try db.prepare(sql)
        try bind(statement)
        var result: [T] = []
        while try statement.step() { result.append(decode(statement)) }
        return result
    }

    /// Binds `?1` channel, `?2`/`?3` wall-time bounds (open when nil) and `?4` limit (none when nil).
    private func bindRange(_ statement: SQLiteStatement, channel: ChannelID? = nil, from: Int64?, to: Int64?,
                           limit: Int?) throws {
        if let channel { try statement.bind(1, Int64(channel.rawValue)) }
        try statement.bind(2, from ?? .min)
        try statement.bind(3, to ?? .max)
        try statement.bind(4, Int64(limit ?? -1))
    }

    private func channelInfo(_ s: SQLiteStatement) -> ChannelInfo {
        ChannelInfo(id: s.channel(0), name: s.text(1) ?? "",
                    instrument: s.text(2) ?? "", instrumentChannel: Int(s.int64(3)),
                    ratedCapacityAh: s.isNull(4) ? 0 : s.double(4))
    }

    private func alarm(_ s: SQLiteStatement) -> Alarm {
        func time(_ mono: Int32, _ wall: Int32) -> Timestamp? { s.isNull(mono) ? nil : s.timestamp(mono, wall) }
        return Alarm(
            id: s.int64(0), channel: s.isNull(1) ? nil : s.channel(1),
            rule: s.text(2) ?? "", severity: Alarm.Severity(rawValue: s.text(3) ?? "") ?? .critical,
            state: Alarm.State(rawValue: s.text(4) ?? "") ?? .active, message: s.text(5) ?? "",
            raised: s.timestamp(6, 7), acknowledgedBy: s.text(8),
            acknowledgedAt: time(9, 10), note: s.text(11), cleared: time(12, 13))
    }
}

extension SQLiteStatement {
    fileprivate func channel(_ column: Int32) -> ChannelID {
        ChannelID(rawValue: Int32(truncatingIfNeeded: int64(column)))
    }

    fileprivate func timestamp(_ monotonic: Int32, _ wall: Int32) -> Timestamp {
        Timestamp(monotonicNs: int64(monotonic), wallNs: int64(wall))
    }
}
