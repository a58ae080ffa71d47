import Alarms
import BenchCore
import Foundation
import Logging
import TOMLConfig

/// Channels A01…A0n (ids 0…n−1), 3 Ah, on instrument `bench`.
func channels(_ count: Int) -> [ChannelInfo] {
    (0..<count).map { ChannelInfo(id: ChannelID($0), name: "A0\($0 + 1)", instrument: "bench", instrumentChannel: $0, ratedCapacityAh: 3) }
}

/// Parses `[alarms]` / `[[cohorts]]` TOML as the daemon does.
func alarmConfiguration(_ toml: String, channels list: [ChannelInfo]) throws(ConfigError) -> AlarmConfiguration {
    let root = try ConfigDocument(text: toml, file: "bench.toml").root
    return try AlarmConfiguration(alarms: root.optionalTable("alarms"), cohorts: root.tables("cohorts"), channels: list)
}

/// A sample of channel `c` at `t` seconds of bench time.
func sample(_ c: Int, at t: Double, voltage: Double = 3.7, current: Double = 0, temperature: Double = 25) -> Sample {
    let ns = Int64((t * 1e9).rounded())
    return Sample(channel: ChannelID(c), sequence: UInt64(t * 10), time: Timestamp(monotonicNs: ns, wallNs: 1_700_000_000_000_000_000 + ns),
                  voltage: voltage, current: current, temperature: temperature)
}

/// Every alarm record pushed to the ring so far (each state change is one record).
func published(_ streams: BenchStreams) -> [Alarm] {
    var cursor = streams.alarms.makeCursor(at: .oldest)
    var out: [Alarm] = []
    streams.alarms.read(&cursor, into: &out)
    return out
}

func events(_ streams: BenchStreams) -> [BenchEvent] {
    var cursor = streams.events.makeCursor(at: .oldest)
    var out: [BenchEvent] = []
    streams.events.read(&cursor, into: &out)
    return out
}

let quietLogger = Logger(label: "alarms-test", factory: { _ in SwiftLogNoOpLogHandler() })

func makeTemporaryDirectory() throws -> String {
    var template = Array((NSTemporaryDirectory() + "/alarms-test-XXXXXX").utf8CString)
    guard let path = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    return String(cString: path)
}

/// Polls `condition` every 20 ms for up to `seconds`.
func eventually(within seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// An engine with no actions wired, logging nowhere.
func makeEngine(_ config: AlarmConfiguration, _ list: [ChannelInfo], _ streams: BenchStreams, nextID: Int64 = 1) -> AlarmEngine {
    AlarmEngine(configuration: config, channels: list, initial: [], nextID: nextID, streams: streams, safeStop: { _ in }, logger: quietLogger)
}
