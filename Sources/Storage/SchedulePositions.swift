import BenchCore

/// A channel's test schedule as stored: its file name and text, and its
/// position (the schedule engine's Codable state, as JSON text).
public struct StoredSchedule: Hashable, Sendable {
    public var channel: ChannelID
    /// Where the schedule was read from, for people.
    public var file: String
    /// The schedule file's text.
    public var source: String
    public var positionJSON: String
    /// Wall clock of the last save, ns since the Unix epoch.
    public var updatedWallNs: Int64

    public init(channel: ChannelID, file: String, source: String, positionJSON: String, updatedWallNs: Int64) {
        self.channel = channel
        self.file = file
        self.source = source
        self.positionJSON = positionJSON
        self.updatedWallNs = updatedWallNs
    }
}

extension StoreInserts {
    func save(_ schedule: StoredSchedule) throws {
        let statement = try db.prepare("""
            INSERT INTO schedule_positions (channel, file, source, position_json, updated_wall_ns)
            VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (channel) DO UPDATE SET file = excluded.file, source = excluded.source,
                position_json = excluded.position_json, updated_wall_ns = excluded.updated_wall_ns
            """)
        try statement.bind(1, Int64(schedule.channel.rawValue))
        try statement.bind(2, schedule.file)
        try statement.bind(3, schedule.source)
        try statement.bind(4, schedule.positionJSON)
        try statement.bind(5, schedule.updatedWallNs)
        try statement.run()
    }
}

extension StoreReader {
    /// Every stored schedule, by channel.
    public func schedules() throws -> [ChannelID: StoredSchedule] {
        let statement = try db.prepare("SELECT channel, file, source, position_json, updated_wall_ns FROM schedule_positions")
        var out: [ChannelID: StoredSchedule] = [:]
        while try statement.step() {
            let channel = ChannelID(rawValue: Int32(truncatingIfNeeded: statement.int64(0)))
            out[channel] = StoredSchedule(channel: channel, file: statement.text(1) ?? "", source: statement.text(2) ?? "",
                                          positionJSON: statement.text(3) ?? "", updatedWallNs: statement.int64(4))
        }
        return out
    }
}
