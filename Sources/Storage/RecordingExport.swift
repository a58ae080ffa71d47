import BenchCore

/// Why an export could not be produced; names the argument or channel concerned.
public enum ExportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `--from` is after `--to`.
    case emptyRange(from: String, to: String)
    /// The channel has no samples in the requested range.
    case noSamples(channel: String, from: String?, to: String?)

    public var description: String {
        switch self {
        case .emptyRange(let from, let to):
            return "--from \(from) is after --to \(to)"
        case .noSamples(let channel, let from, let to):
            return "channel '\(channel)' has no samples from \(from ?? "the start") to \(to ?? "the end")"
        }
    }
}

/// Writes a channel's samples in the recording CSV format (file-formats.md):
/// `# key: value` metadata lines (channel, instrument, start_time, source),
/// then `time_s,current_a,voltage_v,temperature_c`.
///
/// - `time_s` is wall-clock time since the first exported row, in microseconds
///   printed as seconds with six decimals (computed in integers: exact).
///   Rows come in wall-time order, ties in sequence order. The format requires
///   strictly increasing times, so a row whose time is not after the previous
///   row's (same microsecond, or a clock stepped back) is written 1 µs after
///   it; the summary counts these rows.
/// - Values are printed in their shortest exact form; a quantity not measured
///   (NaN, such as temperature without a probe) is an empty cell.
public enum RecordingExport {
    public struct Summary: Hashable, Sendable {
        public var rows = 0
        /// Rows whose time was moved forward to keep `time_s` strictly increasing.
        public var adjustedTimes = 0
    }

    /// Exports samples of the channel called `channelName` with wall time in
    /// `from...to` (ns since the Unix epoch, inclusive; open when nil), handing
    /// the text to `write` in pieces of at most a line.
    /// - Parameter source: what the `# source:` line says the data came from.
    @discardableResult
    public static func write(from reader: StoreReader, channelName: String, from: Int64? = nil, to: Int64? = nil,
                             source: String, to write: (String) throws -> Void) throws -> Summary {
        if let from, let to, from > to {
            throw ExportError.emptyRange(from: WallTime.iso8601(wallNs: from), to: WallTime.iso8601(wallNs: to))
        }
        let channel = try reader.channel(named: channelName)
        var summary = Summary()
        var firstWallNs: Int64 = 0
        var previousMicros: Int64 = -1
        try reader.forEachSample(channel: channel.id, from: from, to: to) { sample in
            if summary.rows == 0 {
                firstWallNs = sample.time.wallNs
                try write("""
                    # channel: \(channel.name)
                    # instrument: \(channel.instrument)
                    # start_time: \(WallTime.iso8601(wallNs: firstWallNs))
                    # source: \(source)
                    time_s,current_a,voltage_v,temperature_c

                    """)
            }
            var micros = (sample.time.wallNs - firstWallNs) / 1000
            if micros <= previousMicros {
                micros = previousMicros + 1
                summary.adjustedTimes += 1
            }
            previousMicros = micros
            summary.rows += 1
            let seconds = "\(micros / 1_000_000).\(WallTime.pad(micros % 1_000_000, 6))"
            try write("\(seconds),\(cell(sample.current)),\(cell(sample.voltage)),\(cell(sample.temperature))\n")
        }
        guard summary.rows > 0 else {
            throw ExportError.noSamples(channel: channelName, from: from.map { WallTime.iso8601(wallNs: $0) },
                                        to: to.map { WallTime.iso8601(wallNs: $0) })
        }
        return summary
    }

    private static func cell(_ value: Double) -> String { value.isFinite ? "\(value)" : "" }
}
