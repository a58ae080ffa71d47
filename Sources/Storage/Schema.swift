/// The store's schema: an ordered list of migrations, version `n` being the
/// schema after the first `n` of them. `PRAGMA user_version` records the
/// version of a file; `PRAGMA application_id` marks it as a cellbench store.
///
/// Times are integer nanoseconds (`*_monotonic_ns`, `*_wall_ns`, Unix epoch
/// for wall time). Real columns may be NULL, which stands for NaN (not
/// measured); SQLite itself turns a bound NaN into NULL.
enum StoreSchema {
    /// `'CBST'` read as a big-endian 32-bit integer.
    static let applicationID: Int64 = 0x4342_5354

    static let migrations: [String] = [
        // 1: channels, cycling samples, impedance sweeps, events, estimates, alarms.
        """
        CREATE TABLE channels (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            instrument TEXT NOT NULL,
            instrument_channel INTEGER NOT NULL,
            rated_capacity_ah REAL
        );
        CREATE TABLE samples (
            channel INTEGER NOT NULL,
            sequence INTEGER NOT NULL,
            monotonic_ns INTEGER NOT NULL,
            wall_ns INTEGER NOT NULL,
            instrument_time_s REAL,
            voltage_v REAL,
            current_a REAL,
            temperature_c REAL,
            charge_ah REAL,
            PRIMARY KEY (channel, sequence)
        ) WITHOUT ROWID;
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            channel INTEGER NOT NULL,
            sequence INTEGER NOT NULL,
            started_monotonic_ns INTEGER NOT NULL,
            started_wall_ns INTEGER NOT NULL,
            finished_monotonic_ns INTEGER NOT NULL,
            finished_wall_ns INTEGER NOT NULL,
            mode TEXT NOT NULL,
            amplitude REAL,
            bias REAL,
            start_frequency_hz REAL,
            stop_frequency_hz REAL,
            points_per_decade INTEGER NOT NULL,
            cycles_per_point INTEGER NOT NULL,
            status TEXT NOT NULL,
            UNIQUE (channel, sequence)
        );
        CREATE INDEX sweeps_by_time ON sweeps (channel, started_wall_ns);
        CREATE TABLE sweep_points (
            sweep INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            frequency_hz REAL,
            z_real_ohm REAL,
            z_imag_ohm REAL,
            dc_voltage_v REAL,
            dc_current_a REAL,
            PRIMARY KEY (sweep, position)
        ) WITHOUT ROWID;
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            channel INTEGER,
            monotonic_ns INTEGER NOT NULL,
            wall_ns INTEGER NOT NULL,
            severity TEXT NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            instrument TEXT
        );
        CREATE INDEX events_by_time ON events (wall_ns);
        CREATE TABLE estimates (
            id INTEGER PRIMARY KEY,
            channel INTEGER NOT NULL,
            monotonic_ns INTEGER NOT NULL,
            wall_ns INTEGER NOT NULL,
            quantity TEXT NOT NULL,
            value REAL,
            sigma REAL,
            source TEXT NOT NULL
        );
        CREATE INDEX estimates_by_channel ON estimates (channel, quantity, wall_ns);
        CREATE TABLE alarms (
            id INTEGER PRIMARY KEY,
            channel INTEGER,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            state TEXT NOT NULL,
            message TEXT NOT NULL,
            raised_monotonic_ns INTEGER NOT NULL,
            raised_wall_ns INTEGER NOT NULL,
            acknowledged_by TEXT,
            acknowledged_monotonic_ns INTEGER,
            acknowledged_wall_ns INTEGER,
            note TEXT,
            cleared_monotonic_ns INTEGER,
            cleared_wall_ns INTEGER
        );
        CREATE INDEX alarms_by_state ON alarms (state);
        """,
        // 2: time-range reads of samples (export, plots) and per-sweep analysis results.
        // The time index is on wall_ns alone: new samples append at its right edge, which
        // costs far less at ingest than (channel, wall_ns) with one insertion point per channel;
        // its entries carry the key (channel, sequence), so per-channel reads filter inside it.
        """
        CREATE INDEX samples_by_time ON samples (wall_ns);
        CREATE TABLE sweep_analyses (
            channel INTEGER NOT NULL,
            sweep_sequence INTEGER NOT NULL,
            updated_wall_ns INTEGER NOT NULL,
            result_json TEXT NOT NULL,
            PRIMARY KEY (channel, sweep_sequence)
        ) WITHOUT ROWID;
        """,
        // 3: time-range reads through a block range index instead of an index entry per sample.
        // Each row covers the samples of one channel whose sequence shares `sequence >> 12`
        // (4096 samples) and holds their wall-time bounds; a time query finds the blocks it
        // touches, then reads those sequence ranges through the primary key. Ingest updates one
        // small row per channel per batch instead of one index entry per sample.
        """
        CREATE TABLE sample_blocks (
            channel INTEGER NOT NULL,
            block INTEGER NOT NULL,
            min_wall_ns INTEGER NOT NULL,
            max_wall_ns INTEGER NOT NULL,
            PRIMARY KEY (channel, block)
        ) WITHOUT ROWID;
        INSERT INTO sample_blocks (channel, block, min_wall_ns, max_wall_ns)
            SELECT channel, sequence >> 12, min(wall_ns), max(wall_ns) FROM samples GROUP BY channel, sequence >> 12;
        DROP INDEX samples_by_time;
        """,
        // 4: where each channel is in its test schedule, so a restarted daemon carries on from there.
        // The schedule's own text is kept with it: the run does not depend on the file staying put.
        """
        CREATE TABLE schedule_positions (
            channel INTEGER PRIMARY KEY,
            file TEXT NOT NULL,
            source TEXT NOT NULL,
            position_json TEXT NOT NULL,
            updated_wall_ns INTEGER NOT NULL
        );
        """,
    ]

    /// Samples per block of `sample_blocks`, as a shift of the sequence number.
    static let blockShift: UInt64 = 12

    static var currentVersion: Int64 { Int64(migrations.count) }

    /// Opens a store, sets the connection's pragmas and brings the schema up to date.
    ///
    /// Pragmas, chosen for the durability contract (docs/storage.md):
    /// - `journal_mode=WAL`: readers never block the writer, and an interrupted
    ///   write (crash, `kill -9`, power loss) leaves the last committed state intact.
    /// - `synchronous=FULL`: the WAL is fsynced at every COMMIT, so a committed
    ///   transaction survives power loss (NORMAL would only protect against crashes).
    /// - `busy_timeout`: the writer and readers in other processes wait for each
    ///   other's short locks instead of failing.
    /// - `foreign_keys=ON`: sweep points are tied to their sweep.
    static func open(path: String, create: Bool, busyTimeoutMs: Int32 = 5000) throws -> SQLiteDatabase {
        let db = try SQLiteDatabase(path: path, create: create)
        try db.execute("PRAGMA busy_timeout = \(busyTimeoutMs)")
        try checkOwnership(db)
        let mode = try db.text("PRAGMA journal_mode = WAL")
        guard mode.lowercased() == "wal" else { throw StoreError.walUnavailable(path: path, journalMode: mode) }
        try db.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
        try migrate(db)
        return db
    }

    /// Refuses SQLite files that belong to something else: a file is ours when it
    /// carries our application id, or when it is still empty.
    private static func checkOwnership(_ db: SQLiteDatabase) throws {
        let id = try db.integer("PRAGMA application_id")
        if id == applicationID { return }
        let objects = try db.integer("SELECT count(*) FROM sqlite_schema")
        guard id == 0 && objects == 0 else { throw StoreError.notAStore(path: db.path) }
    }

    /// Applies the missing migrations in one transaction.
    private static func migrate(_ db: SQLiteDatabase) throws {
        let found = try db.integer("PRAGMA user_version")
        if found > currentVersion {
            throw StoreError.newerSchema(path: db.path, found: found, known: currentVersion)
        }
        guard found < currentVersion else { return }
        try db.writeTransaction {
            // Another process may have migrated between the check and the lock.
            let version = try db.integer("PRAGMA user_version")
            guard version < currentVersion else { return }
            for migration in migrations[Int(version)...] {
                try db.execute(migration)
            }
            try db.execute("PRAGMA user_version = \(currentVersion); PRAGMA application_id = \(applicationID)")
        }
    }
}
