import BenchCore
import Testing
@testable import Storage

@Suite struct SchedulePositionTests {
    /// A store as version 3 left it gains the schedule table on opening, its samples intact.
    @Test func version3StoreIsMigratedToTheScheduleTable() async throws {
        let dir = try TempDirectory()
        let path = dir.file("v3.db")
        let version3 = StoreSchema.migrations.prefix(3).joined(separator: "\n")
        _ = try sqliteShell(path, version3 + """
            PRAGMA application_id = 1128420180;
            PRAGMA user_version = 3;
            INSERT INTO channels VALUES (1, 'A01', 'cycler-1', 0, 2.5);
            INSERT INTO samples VALUES (1, 7, 100, 1772366400000000000, 12.5, 3.65, -1.25, NULL, 0.5);
            INSERT INTO sample_blocks VALUES (1, 0, 1772366400000000000, 1772366400000000000);
            """)
        #expect(try sqliteShell(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'schedule_positions'") == "0")
        let reader = try StoreReader(path: path)
        #expect(try sqliteShell(path, "PRAGMA user_version") == "\(StoreSchema.currentVersion)")
        #expect(try sqliteShell(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'schedule_positions'") == "1")
        #expect(try reader.samples(channel: ChannelID(1)).map(\.sequence) == [7])
        #expect(try reader.schedules().isEmpty)
    }

    /// A saved position is committed when `save` returns (read by the sqlite3 shell, another process),
    /// and a second save of the channel replaces the first.
    @Test func savedPositionIsDurableAtOnceAndReplacedBySaves() async throws {
        let dir = try TempDirectory()
        let path = dir.file("positions.db")
        let writer = try BatchWriter(path: path, streams: BenchStreams(), watermarks: CommitWatermarks())
        let channel = try writer.registerChannel(name: "C01", instrument: "cycler", instrumentChannel: 0).id
        let first = StoredSchedule(channel: channel, file: "a.toml", source: "name = 'a'", positionJSON: #"{"path":[0]}"#,
                                   updatedWallNs: march1Noon)
        try writer.save(first)
        #expect(try sqliteShell(path, "SELECT file, position_json FROM schedule_positions") == #"a.toml|{"path":[0]}"#)
        var second = first
        second.positionJSON = #"{"path":[1,2]}"#
        second.updatedWallNs = march1Noon + 1
        try writer.save(second)
        try await writer.finish()
        #expect(try StoreReader(path: path).schedules() == [channel: second])
    }
}
