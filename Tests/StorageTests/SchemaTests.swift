import BenchCore
import Foundation
import Testing
@testable import Storage

@Suite struct SchemaTests {
    /// The version-1 schema as it was first released, written out by hand, with a few rows.
    private let version1 = """
        CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, instrument TEXT NOT NULL,
            instrument_channel INTEGER NOT NULL, rated_capacity_ah REAL);
        CREATE TABLE samples (channel INTEGER NOT NULL, sequence INTEGER NOT NULL, monotonic_ns INTEGER NOT NULL,
            wall_ns INTEGER NOT NULL, instrument_time_s REAL, voltage_v REAL, current_a REAL, temperature_c REAL,
            charge_ah REAL, PRIMARY KEY (channel, sequence)) WITHOUT ROWID;
        CREATE TABLE sweeps (id INTEGER PRIMARY KEY, channel INTEGER NOT NULL, sequence INTEGER NOT NULL,
            started_monotonic_ns INTEGER NOT NULL, started_wall_ns INTEGER NOT NULL,
            finished_monotonic_ns INTEGER NOT NULL, finished_wall_ns INTEGER NOT NULL, mode TEXT NOT NULL,
            amplitude REAL, bias REAL, start_frequency_hz REAL, stop_frequency_hz REAL,
            points_per_decade INTEGER NOT NULL, cycles_per_point INTEGER NOT NULL, status TEXT NOT NULL,
            UNIQUE (channel, sequence));
        CREATE INDEX sweeps_by_time ON sweeps (channel, started_wall_ns);
        CREATE TABLE sweep_points (sweep INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
            position INTEGER NOT NULL, frequency_hz REAL, z_real_ohm REAL, z_imag_ohm REAL, dc_voltage_v REAL,
            dc_current_a REAL, PRIMARY KEY (sweep, position)) WITHOUT ROWID;
        CREATE TABLE events (id INTEGER PRIMARY KEY, channel INTEGER, monotonic_ns INTEGER NOT NULL,
            wall_ns INTEGER NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, instrument TEXT);
        CREATE INDEX events_by_time ON events (wall_ns);
        CREATE TABLE estimates (id INTEGER PRIMARY KEY, channel INTEGER NOT NULL, monotonic_ns INTEGER NOT NULL,
            wall_ns INTEGER NOT NULL, quantity TEXT NOT NULL, value REAL, sigma REAL, source TEXT NOT NULL);
        CREATE INDEX estimates_by_channel ON estimates (channel, quantity, wall_ns);
        CREATE TABLE alarms (id INTEGER PRIMARY KEY, channel INTEGER, rule TEXT NOT NULL, severity TEXT NOT NULL,
            state TEXT NOT NULL, message TEXT NOT NULL, raised_monotonic_ns INTEGER NOT NULL,
            raised_wall_ns INTEGER NOT NULL, acknowledged_by TEXT, acknowledged_monotonic_ns INTEGER,
            acknowledged_wall_ns INTEGER, note TEXT, cleared_monotonic_ns INTEGER, cleared_wall_ns INTEGER);
        CREATE INDEX alarms_by_state ON alarms (state);
        PRAGMA application_id = 1128420180;
        PRAGMA user_version = 1;
        INSERT INTO channels VALUES (1, 'A01', 'cycler-1', 0, 2.5);
        INSERT INTO samples VALUES (1, 7, 100, 1772366400000000000, 12.5, 3.65, -1.25, NULL, 0.5);
        INSERT INTO samples VALUES (1, 8, 200, 1772366401000000000, 13.5, 3.64, -1.25, 24.5, 0.49);
        INSERT INTO alarms VALUES (3, 1, 'over-temperature', 'critical', 'acknowledged', 'cell at 61 °C',
            10, 1772366400000000000, 'ana', 20, 1772366460000000000, 'fan replaced', NULL, NULL);
        """

    @Test func applicationIDIsTheOneWrittenInVersion1() {
        // The hand-written v1 script above spells the id in decimal; it must be ours.
        #expect(StoreSchema.applicationID == 1_128_420_180)
    }

    @Test func version1StoreIsMigratedWithDataIntact() async throws {
        let dir = try TempDirectory()
        let path = dir.file("v1.db")
        _ = try sqliteShell(path, version1)
        #expect(try sqliteShell(path, "PRAGMA user_version") == "1")

        let reader = try StoreReader(path: path)
        #expect(try sqliteShell(path, "PRAGMA user_version") == "\(StoreSchema.currentVersion)")
        // Version 2 added the per-sample time index and sweep analyses; version 3 replaced the
        // index by the block index, built from the samples already stored.
        #expect(try sqliteShell(path, "SELECT name FROM sqlite_schema WHERE name IN ('samples_by_time', 'sweep_analyses', 'sample_blocks') ORDER BY name")
            == "sample_blocks\nsweep_analyses")
        #expect(try sqliteShell(path, "SELECT channel, block, min_wall_ns, max_wall_ns FROM sample_blocks")
            == "1|0|1772366400000000000|1772366401000000000")

        let channel = try reader.channel(named: "A01")
        #expect(channel == ChannelInfo(id: ChannelID(1), name: "A01", instrument: "cycler-1", instrumentChannel: 0,
                                       ratedCapacityAh: 2.5))
        let samples = try reader.samples(channel: channel.id)
        #expect(samples.map(\.sequence) == [7, 8])
        #expect(samples[0].voltage == 3.65 && samples[0].current == -1.25 && samples[0].temperature.isNaN)
        #expect(samples[1].temperature == 24.5 && samples[1].time == Timestamp(monotonicNs: 200, wallNs: 1_772_366_401_000_000_000))
        let alarm = try #require(try reader.alarm(id: 3))
        #expect(alarm.state == .acknowledged && alarm.acknowledgedBy == "ana" && alarm.note == "fan replaced")
        #expect(alarm.acknowledgedAt == Timestamp(monotonicNs: 20, wallNs: 1_772_366_460_000_000_000))
        #expect(alarm.cleared == nil)
        #expect(try reader.latestSampleSequences() == [ChannelID(1): 8])

        // The migrated store takes new data, including the table version 2 added.
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks())
        streams.samples.push(sample(ChannelID(1), 9, wallNs: 1_772_366_402_000_000_000))
        writer.submit(SweepAnalysis(channel: ChannelID(1), sweepSequence: 1, updatedWallNs: march1Noon, resultJSON: "{}"))
        try await writer.finish()
        #expect(try reader.samples(channel: channel.id).map(\.sequence) == [7, 8, 9])
        #expect(try sqliteShell(path, "SELECT result_json FROM sweep_analyses") == "{}")
        #expect(try sqliteShell(path, "PRAGMA integrity_check") == "ok")
    }

    @Test func newerStoreIsRefusedByName() throws {
        let dir = try TempDirectory()
        let path = dir.file("future.db")
        _ = try StoreSchema.open(path: path, create: true)
        _ = try sqliteShell(path, "PRAGMA user_version = 99")
        #expect(throws: StoreError.newerSchema(path: path, found: 99, known: StoreSchema.currentVersion)) {
            try StoreReader(path: path)
        }
        let message = "\(StoreError.newerSchema(path: path, found: 99, known: 2))"
        #expect(message.contains("future.db") && message.contains("99"))
    }

    @Test func foreignDatabaseAndMissingFileAreRefused() throws {
        let dir = try TempDirectory()
        let foreign = dir.file("other.db")
        _ = try sqliteShell(foreign, "CREATE TABLE recipes (name TEXT)")
        #expect(throws: StoreError.notAStore(path: foreign)) { try StoreReader(path: foreign) }
        #expect(try sqliteShell(foreign, "SELECT name FROM sqlite_schema") == "recipes")

        let missing = dir.file("absent.db")
        #expect(throws: StoreError.missingStore(path: missing)) { try StoreReader(path: missing) }
        #expect(!FileManager.default.fileExists(atPath: missing))

        let garbage = dir.file("garbage.db")
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: garbage))
        do {
            _ = try StoreReader(path: garbage)
            Issue.record("a file of garbage was opened as a store")
        } catch let StoreError.sqlite(error) {
            #expect(error.path == garbage && error.message.contains("not a database"))
        }
    }

    @Test func storeUsesWALWithFullSync() throws {
        let dir = try TempDirectory()
        let path = dir.file("pragmas.db")
        let db = try StoreSchema.open(path: path, create: true)
        #expect(try db.text("PRAGMA journal_mode") == "wal")
        #expect(try db.integer("PRAGMA synchronous") == 2)  // FULL
        #expect(try db.integer("PRAGMA foreign_keys") == 1)
        #expect(try db.integer("PRAGMA busy_timeout") == 5000)
        #expect(try sqliteShell(path, "PRAGMA journal_mode") == "wal")
    }
}

@Suite struct SampleBlockIndexTests {
    /// Time-range reads through the block index return exactly the samples whose wall time is in
    /// range, across block boundaries, for samples written over several batches.
    @Test func timeRangeReadsMatchABruteForceFilter() async throws {
        let dir = try TempDirectory()
        let path = dir.file("blocks.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks(),
                                     options: BatchOptions(batchSize: 1000, interval: .milliseconds(5)))
        let a = try writer.registerChannel(name: "A", instrument: "x", instrumentChannel: 0).id
        let b = try writer.registerChannel(name: "B", instrument: "x", instrumentChannel: 1).id
        writer.start()
        // 10,000 samples per channel (three blocks of 4096), 1 ms apart, interleaved.
        let t0: Int64 = 1_800_000_000_000_000_000
        var all: [Sample] = []
        for n in 1...10_000 as ClosedRange<UInt64> {
            for channel in [a, b] {
                let s = Sample(channel: channel, sequence: n, time: Timestamp(monotonicNs: Int64(n), wallNs: t0 + Int64(n) * 1_000_000),
                               voltage: Double(n), current: 0)
                streams.samples.push(s)
                all.append(s)
            }
        }
        streams.closeAll()
        try await writer.finish()

        let reader = try StoreReader(path: path)
        for (from, to) in [(t0, t0 + 5_000_000), (t0 + 4_000_000_000, t0 + 4_200_000_000), (t0 + 9_999_000_000, t0 + 20_000_000_000)] {
            let expected = all.filter { $0.channel == b && $0.time.wallNs >= from && $0.time.wallNs <= to }.map(\.sequence)
            #expect(try reader.samples(channel: b, from: from, to: to).map(\.sequence) == expected)
        }
        #expect(try reader.samples(channel: a, from: t0 + 20_000_000_000).isEmpty)
        #expect(try reader.samples(channel: a).count == 10_000)
        #expect(try reader.samples(channel: a, order: .newestFirst, limit: 2).map(\.sequence) == [10_000, 9_999])
    }
}
