import BenchCore
import Instruments
import Simulator
import TOMLConfig

/// A validated `[[instruments]]` table, ready to become an acquisition source
/// once its channels have their store identifiers.
struct InstrumentPlan: Sendable {
    let name: String
    /// `resumeAfter`: last stored sample sequence per channel, for sources that number samples themselves.
    let make: @Sendable (_ channels: [ChannelInfo], _ resumeAfter: [ChannelID: UInt64]) throws(ConfigError) -> any AcquisitionSource
}

/// Reads each `[[instruments]]` table by its `kind`. Validation happens here,
/// before the store is opened; nothing is connected yet.
struct InstrumentFactory: Sendable {
    /// Drivers for real instruments (and the protocol-true simulators), from `drivers/*.toml`.
    let drivers: DriverFactory

    var kinds: [String] { ["simulator"] + DriverFactory.kinds }

    func plan(_ instrument: BenchConfiguration.Instrument, channels: [ChannelInfo]) throws(ConfigError) -> InstrumentPlan {
        let table = instrument.table
        let name = instrument.name
        switch instrument.kind {
        case "simulator":
            try table.rejectUnknownKeys(["name", "kind", "sample_rate_hz", "time_scale", "voltage_noise_v", "seed"])
            var settings = SimulatedBenchSettings()
            settings.sampleRateHz = try table.double("sample_rate_hz", in: 0.1...1000, default: settings.sampleRateHz)
            settings.timeScale = try table.double("time_scale", in: 0.001...100_000, default: settings.timeScale)
            settings.voltageNoise = try table.double("voltage_noise_v", in: 0...1, default: settings.voltageNoise)
            settings.seed = UInt64(try table.int("seed", in: 0...Int.max, default: 1))
            let fixed = settings
            return InstrumentPlan(name: name) { channels, resumeAfter in
                SimulatedInstrument(name: name, channels: channels.map { ($0.id, $0.ratedCapacityAh) }, settings: fixed,
                                    resumeAfter: resumeAfter)
            }
        case let kind where DriverFactory.kinds.contains(kind):
            // Validate the table and its driver file now, with the channels as configured;
            // the driver that runs is built again once the store has given the channels their ids.
            _ = try drivers.make(table: table, channels: channels)
            let drivers = self.drivers
            return InstrumentPlan(name: name) { channels, _ throws(ConfigError) in
                try drivers.make(table: table, channels: channels)
            }
        default:
            throw table.error("kind", "unknown instrument kind '\(instrument.kind)' (known: \(kinds.joined(separator: ", ")))")
        }
    }
}
