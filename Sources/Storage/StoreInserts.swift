import BenchCore

/// The writer's connection with its prepared statements, each prepared once and
/// reused for every row. Confined to whoever holds `BatchWriter`'s lock.
final class StoreInserts {
    let db: SQLiteDatabase
    private let sample: SQLiteStatement
    private let sweep: SQLiteStatement
    private let point: SQLiteStatement
    private let event: SQLiteStatement
    private let estimate: SQLiteStatement
    private let alarm: SQLiteStatement
    private let analysis: SQLiteStatement
    private let channel: SQLiteStatement
    private let sampleExists: SQLiteStatement
    private let sampleBlock: SQLiteStatement
    private let storedSample: SQLiteStatement
    private let runEnd: SQLiteStatement

    init(path: String, busyTimeoutMs: Int32) throws {
        db = try StoreSchema.open(path: path, create: true, busyTimeoutMs: busyTimeoutMs)
        sample = try db.prepare("""
            INSERT OR IGNORE INTO samples (channel, sequence, monotonic_ns, wall_ns, instrument_time_s,
                voltage_v, current_a, temperature_c, charge_ah)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """)
        sweep = try db.prepare("""
            INSERT INTO sweeps (channel, sequence, started_monotonic_ns, started_wall_ns, finished_monotonic_ns,
                finished_wall_ns, mode, amplitude, bias, start_frequency_hz, stop_frequency_hz, points_per_decade,
                cycles_per_point, status)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
            ON CONFLICT (channel, sequence) DO NOTHING
            RETURNING id
            """)
        point = try db.prepare("""
            INSERT INTO sweep_points (sweep, position, frequency_hz, z_real_ohm, z_imag_ohm, dc_voltage_v, dc_current_a)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        event = try db.prepare("""
            INSERT INTO events (channel, monotonic_ns, wall_ns, severity, kind, message, instrument)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        estimate = try db.prepare("""
            INSERT INTO estimates (channel, monotonic_ns, wall_ns, quantity, value, sigma, source)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        alarm = try db.prepare("""
            INSERT INTO alarms (id, channel, rule, severity, state, message, raised_monotonic_ns, raised_wall_ns,
                acknowledged_by, acknowledged_monotonic_ns, acknowledged_wall_ns, note, cleared_monotonic_ns, cleared_wall_ns)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
            ON CONFLICT (id) DO UPDATE SET
                channel = excluded.channel, rule = excluded.rule, severity = excluded.severity, state = excluded.state,
                message = excluded.message, raised_monotonic_ns = excluded.raised_monotonic_ns,
                raised_wall_ns = excluded.raised_wall_ns, acknowledged_by = excluded.acknowledged_by,
                acknowledged_monotonic_ns = excluded.acknowledged_monotonic_ns,
                acknowledged_wall_ns = excluded.acknowledged_wall_ns, note = excluded.note,
                cleared_monotonic_ns = excluded.cleared_monotonic_ns, cleared_wall_ns = excluded.cleared_wall_ns
            """)
        analysis = try db.prepare("""
            INSERT INTO sweep_analyses (channel, sweep_sequence, updated_wall_ns, result_json) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (channel, sweep_sequence) DO UPDATE SET
                updated_wall_ns = excluded.updated_wall_ns, result_json = excluded.result_json
            """)
        channel = try db.prepare("""
            INSERT INTO channels (name, instrument, instrument_channel, rated_capacity_ah) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (name) DO UPDATE SET instrument = excluded.instrument,
                instrument_channel = excluded.instrument_channel, rated_capacity_ah = excluded.rated_capacity_ah
            RETURNING id
            """)
        sampleBlock = try db.prepare("""
            INSERT INTO sample_blocks (channel, block, min_wall_ns, max_wall_ns) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (channel, block) DO UPDATE SET
                min_wall_ns = min(min_wall_ns, excluded.min_wall_ns), max_wall_ns = max(max_wall_ns, excluded.max_wall_ns)
            """)
        sampleExists = try db.prepare("SELECT 1 FROM samples WHERE channel = ?1 AND sequence = ?2")
        storedSample = try db.prepare("""
            SELECT instrument_time_s, voltage_v, current_a FROM samples WHERE channel = ?1 AND sequence = ?2
            """)
        runEnd = try db.prepare("""
            SELECT a.sequence FROM samples AS a
            WHERE a.channel = ?1 AND a.sequence > ?2
              AND NOT EXISTS (SELECT 1 FROM samples AS b WHERE b.channel = ?1 AND b.sequence = a.sequence + 1)
            ORDER BY a.sequence LIMIT 1
            """)
    }

    /// Returns whether the sample was new (false: a re-delivery, ignored).
    func insert(_ s: Sample) throws -> Bool {
        try sample.bind(1, Int64(s.channel.rawValue))
        try sample.bind(2, Int64(bitPattern: s.sequence))
        try sample.bind(3, s.time.monotonicNs)
        try sample.bind(4, s.time.wallNs)
        try sample.bind(5, s.instrumentTime)
        try sample.bind(6, s.voltage)
        try sample.bind(7, s.current)
        try sample.bind(8, s.temperature)
        try sample.bind(9, s.charge)
        try sample.run()
        return db.changes > 0
    }

    /// Widens the wall-time bounds of a block of `sample_blocks` to cover new samples.
    func extendBlock(_ key: SampleBlockKey, minWallNs: Int64, maxWallNs: Int64) throws {
        try sampleBlock.bind(1, Int64(key.channel.rawValue))
        try sampleBlock.bind(2, Int64(bitPattern: key.block))
        try sampleBlock.bind(3, minWallNs)
        try sampleBlock.bind(4, maxWallNs)
        try sampleBlock.run()
    }

    /// Whether the stored sample with the (channel, sequence) of `s` holds the same
    /// measurement: then `s` is a re-delivery; otherwise the sequence was reused.
    func matchesStored(_ s: Sample) throws -> Bool {
        try storedSample.bind(1, Int64(s.channel.rawValue))
        try storedSample.bind(2, Int64(bitPattern: s.sequence))
        guard try storedSample.step() else { return false }
        defer { storedSample.reset() }
        func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
        return same(storedSample.double(0), s.instrumentTime) && same(storedSample.double(1), s.voltage)
            && same(storedSample.double(2), s.current)
    }

    /// Returns the number of points stored, or nil when the sweep was a re-delivery (ignored).
    func insert(_ s: Sweep) throws -> Int? {
        try sweep.bind(1, Int64(s.channel.rawValue))
        try sweep.bind(2, Int64(bitPattern: s.sequence))
        try sweep.bind(3, s.started.monotonicNs)
        try sweep.bind(4, s.started.wallNs)
        try sweep.bind(5, s.finished.monotonicNs)
        try sweep.bind(6, s.finished.wallNs)
        try sweep.bind(7, s.settings.mode.rawValue)
        try sweep.bind(8, s.settings.amplitude)
        try sweep.bind(9, s.settings.bias)
        try sweep.bind(10, s.settings.startFrequency)
        try sweep.bind(11, s.settings.stopFrequency)
        try sweep.bind(12, Int64(s.settings.pointsPerDecade))
        try sweep.bind(13, Int64(s.settings.cyclesPerPoint))
        try sweep.bind(14, s.status.rawValue)
        guard try sweep.step() else { return nil }
        let id = sweep.int64(0)
        try sweep.run()
        for (position, p) in s.points.enumerated() {
            try point.bind(1, id)
            try point.bind(2, Int64(position))
            try point.bind(3, p.frequency)
            try point.bind(4, p.zReal)
            try point.bind(5, p.zImag)
            try point.bind(6, p.dcVoltage)
            try point.bind(7, p.dcCurrent)
            try point.run()
        }
        return s.points.count
    }

    func insert(_ e: BenchEvent) throws {
        try event.bind(1, e.channel.map { Int64($0.rawValue) })
        try event.bind(2, e.time.monotonicNs)
        try event.bind(3, e.time.wallNs)
        try event.bind(4, e.severity.rawValue)
        try event.bind(5, e.kind)
        try event.bind(6, e.message)
        try event.bind(7, e.instrument)
        try event.run()
    }

    func insert(_ e: Estimate) throws {
        try estimate.bind(1, Int64(e.channel.rawValue))
        try estimate.bind(2, e.time.monotonicNs)
        try estimate.bind(3, e.time.wallNs)
        try estimate.bind(4, e.quantity)
        try estimate.bind(5, e.value)
        try estimate.bind(6, e.sigma)
        try estimate.bind(7, e.source)
        try estimate.run()
    }

    /// Inserts a new alarm (id 0: the store assigns one) or updates the alarm with that id.
    func upsert(_ a: Alarm) throws {
        try alarm.bind(1, a.id == 0 ? nil : a.id)
        try alarm.bind(2, a.channel.map { Int64($0.rawValue) })
        try alarm.bind(3, a.rule)
        try alarm.bind(4, a.severity.rawValue)
        try alarm.bind(5, a.state.rawValue)
        try alarm.bind(6, a.message)
        try alarm.bind(7, a.raised.monotonicNs)
        try alarm.bind(8, a.raised.wallNs)
        try alarm.bind(9, a.acknowledgedBy)
        try alarm.bind(10, a.acknowledgedAt?.monotonicNs)
        try alarm.bind(11, a.acknowledgedAt?.wallNs)
        try alarm.bind(12, a.note)
        try alarm.bind(13, a.cleared?.monotonicNs)
        try alarm.bind(14, a.cleared?.wallNs)
        try alarm.run()
    }

    func upsert(_ a: SweepAnalysis) throws {
        try analysis.bind(1, Int64(a.channel.rawValue))
        try analysis.bind(2, Int64(bitPattern: a.sweepSequence))
        try analysis.bind(3, a.updatedWallNs)
        try analysis.bind(4, a.resultJSON)
        try analysis.run()
    }

    /// Adds the channel named `name` or updates its description; returns its id.
    func register(name: String, instrument: String, instrumentChannel: Int, ratedCapacityAh: Double) throws -> ChannelID {
        try channel.bind(1, name)
        try channel.bind(2, instrument)
        try channel.bind(3, Int64(instrumentChannel))
        try channel.bind(4, ratedCapacityAh)
        guard try channel.step() else { throw db.noRow(channel.sql) }
        let id = channel.int64(0)
        try channel.run()
        return ChannelID(rawValue: Int32(truncatingIfNeeded: id))
    }

    /// The end of the unbroken run of stored sequences that starts right after
    /// `mark` on `channel`, or nil when `mark + 1` itself is not stored.
    func contiguousEnd(channel c: ChannelID, after mark: UInt64) throws -> UInt64? {
        try sampleExists.bind(1, Int64(c.rawValue))
        try sampleExists.bind(2, Int64(bitPattern: mark &+ 1))
        guard try sampleExists.step() else { return nil }
        sampleExists.reset()
        try runEnd.bind(1, Int64(c.rawValue))
        try runEnd.bind(2, Int64(bitPattern: mark))
        guard try runEnd.step() else { return nil }
        let end = UInt64(bitPattern: runEnd.int64(0))
        runEnd.reset()
        return end
    }
}

/// A block of `sample_blocks`: the samples of one channel whose sequences share `sequence >> blockShift`.
struct SampleBlockKey: Hashable {
    var channel: ChannelID
    var block: UInt64

    init(_ sample: Sample) {
        channel = sample.channel
        block = sample.sequence >> StoreSchema.blockShift
    }
}
