import TOMLConfig

/// The register map of a multi-channel cycler with an on-board record buffer,
/// as described by a driver file's `[device]` and `[channel.*]` tables.
public struct CyclerMap: Equatable, Sendable {
    /// Largest number of registers one request may read or write.
    public var maxRead: Int
    public var maxWrite: Int

    public var channelCount: RegisterField
    public var model: RegisterField?

    public var inputBase: Int
    public var holdingBase: Int
    public var channelStride: Int
    public var maxChannels: Int

    /// Input-register fields of a channel, relative to its input base.
    public var input: [String: RegisterField]
    /// Holding-register fields of a channel, relative to its holding base.
    public var holding: [String: RegisterField]
    /// Offset of the record window from the channel's input base.
    public var windowAddress: Int
    public var windowRecords: Int
    public var recordStride: Int
    /// Fields of one record, relative to the record's start.
    public var record: [String: RegisterField]
    /// Numeric codes of states, trips, commands and modes.
    public var codes: [String: [String: Int]]

    static let inputFields = ["state", "trip", "voltage", "current", "temperature", "time", "newest", "oldest", "dropped", "window_count"]
    static let holdingFields = ["command", "mode", "current_setpoint", "voltage_setpoint", "current_limit", "record_interval",
                                "protect_voltage_high", "protect_voltage_low", "protect_current", "protect_temperature",
                                "watchdog", "acknowledge"]
    static let recordFields = ["sequence", "time", "voltage", "current", "temperature", "charge"]
    static let codeWords: [String: [String]] = [
        "state": ["idle", "rest", "constant_current", "constant_voltage", "paused", "tripped"],
        "command": ["apply", "stop", "pause", "resume", "clear_trip"],
        "mode": ["rest", "constant_current", "constant_voltage", "cccv"],
    ]

    static func parse(_ root: ConfigTable) throws -> CyclerMap {
        let modbus = try root.table("modbus")
        try modbus.rejectUnknownKeys(["word_order", "max_read", "max_write"])
        let orderName = try modbus.optionalString("word_order") ?? "ABCD"
        guard let order = WordOrder(rawValue: orderName) else { throw modbus.error("word_order", "unknown word order '\(orderName)'") }
        let maxRead = try modbus.int("max_read", in: 1...125, default: 125)
        let maxWrite = try modbus.int("max_write", in: 1...123, default: 123)

        let device = try root.table("device")
        try device.rejectUnknownKeys(["channel_count", "model"])
        let channelCount = try RegisterField.parse(device, "channel_count", defaultOrder: order, addressLimit: 65535)
        let model = try device.contains("model") ? RegisterField.parse(device, "model", defaultOrder: order, addressLimit: 65535) : nil

        let channel = try root.table("channel")
        try channel.rejectUnknownKeys(["input_base", "holding_base", "stride", "max_channels", "input", "holding", "window", "record", "codes"])
        let inputBase = try channel.int("input_base", in: 0...65535)
        let holdingBase = try channel.int("holding_base", in: 0...65535)
        let stride = try channel.int("stride", in: 1...65535)
        let maxChannels = try channel.int("max_channels", in: 1...256)
        for (key, base) in [("input_base", inputBase), ("holding_base", holdingBase)] where base + stride * maxChannels > 65536 {
            throw channel.error(key, "\(maxChannels) channels of \(stride) registers from \(base) run past register 65535")
        }

        let input = try fields(channel, "input", required: inputFields, order: order, limit: stride - 1)
        let holding = try fields(channel, "holding", required: holdingFields, order: order, limit: stride - 1)

        let window = try channel.table("window")
        try window.rejectUnknownKeys(["address", "records", "stride"])
        let windowAddress = try window.int("address", in: 0...stride - 1)
        let windowRecords = try window.int("records", in: 1...64)
        let recordStride = try window.int("stride", in: 1...64)
        let record = try fields(channel, "record", required: recordFields, order: order, limit: recordStride - 1)

        let map = CyclerMap(maxRead: maxRead, maxWrite: maxWrite, channelCount: channelCount, model: model,
                            inputBase: inputBase, holdingBase: holdingBase, channelStride: stride, maxChannels: maxChannels,
                            input: input, holding: holding, windowAddress: windowAddress, windowRecords: windowRecords,
                            recordStride: recordStride, record: record, codes: try codes(channel))
        if map.windowEnd > stride {
            throw window.error("records", "the window ends at offset \(map.windowEnd), past the channel stride \(stride)")
        }
        if map.recordSpan.count > maxRead {
            throw window.error("records", "the counters and the window span \(map.recordSpan.count) registers, more than max_read \(maxRead)")
        }
        return map
    }

    private static func fields(_ channel: ConfigTable, _ key: String, required: [String], order: WordOrder, limit: Int) throws -> [String: RegisterField] {
        let section = try channel.table(key)
        try section.rejectUnknownKeys(Set(required))
        var out: [String: RegisterField] = [:]
        for name in required {
            guard section.contains(name) else { throw section.error(name, "missing register `\(name)`") }
            let field = try RegisterField.parse(section, name, defaultOrder: order, addressLimit: limit)
            guard field.end <= limit + 1 else { throw section.error(name, "runs past offset \(limit)") }
            out[name] = field
        }
        return out
    }

    private static func codes(_ channel: ConfigTable) throws -> [String: [String: Int]] {
        let section = try channel.table("codes")
        try section.rejectUnknownKeys(Set(codeWords.keys))
        var out: [String: [String: Int]] = [:]
        for (group, words) in codeWords {
            let table = try section.table(group)
            try table.rejectUnknownKeys(Set(words))
            var codes: [String: Int] = [:]
            for word in words { codes[word] = try table.int(word, in: 0...65535) }
            out[group] = codes
        }
        return out
    }

    /// End offset of the record window from the channel's input base.
    var windowEnd: Int { windowAddress + windowRecords * recordStride }

    /// Offsets (from the input base) covering the channel clock, the buffer
    /// counters and the record window: read in one request so that they agree.
    var recordSpan: Range<Int> {
        let counters = ["time", "newest", "oldest", "dropped", "window_count"].compactMap { input[$0] }
        let start = min(counters.map(\.address).min() ?? windowAddress, windowAddress)
        return start..<max(counters.map(\.end).max() ?? windowEnd, windowEnd)
    }

    /// Offsets covering the channel's live status fields.
    var statusSpan: Range<Int> {
        let status = ["state", "trip", "voltage", "current", "temperature"].compactMap { input[$0] }
        return (status.map(\.address).min() ?? 0)..<(status.map(\.end).max() ?? 0)
    }

    func code(_ group: String, _ word: String) -> Int { codes[group]?[word] ?? 0 }

    func word(_ group: String, code: Int) -> String? { codes[group]?.first(where: { $0.value == code })?.key }

    func inputAddress(channel: Int, offset: Int) -> Int { inputBase + channelStride * channel + offset }
    func holdingAddress(channel: Int, offset: Int) -> Int { holdingBase + channelStride * channel + offset }
}
