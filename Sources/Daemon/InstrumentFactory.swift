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

    var kinds: [String] { ["simulator", "simulated-cohort"] + DriverFactory.kinds }

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
        case "simulated-cohort":
            return try cohortPlan(table, name: name, channels: channels)
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

    /// A simulated cohort of like cells, faults injected by channel name (`[instruments.faults]`).
    private func cohortPlan(_ table: ConfigTable, name: String, channels: [ChannelInfo]) throws(ConfigError) -> InstrumentPlan {
        try table.rejectUnknownKeys(["name", "kind", "time_scale", "sample_interval_s", "rest_s", "fault_onset_h", "seed", "faults"])
        let timeScale = try table.double("time_scale", in: 0.001...1_000_000, default: 1)
        let step = try table.double("sample_interval_s", in: 0.1...3600, default: 10)
        let rest = try table.double("rest_s", in: 0...86_400, default: 7200)
        let onset = 3600 * (try table.double("fault_onset_h", in: 0...1_000_000, default: 0))
        let seed = UInt64(try table.int("seed", in: 0...Int.max, default: 1))
        var faults: [String: CellFault] = [:]
        if let faultTable = try table.optionalTable("faults") {
            let options = Dictionary(uniqueKeysWithValues: CellFault.allCases.map { ($0.rawValue, $0) })
            for channel in faultTable.keys {
                guard channels.contains(where: { $0.name == channel }) else {
                    throw faultTable.error(channel, "no channel '\(channel)' on instrument '\(name)'")
                }
                faults[channel] = try faultTable.choice(channel, options)
            }
        }
        let fixedFaults = faults
        return InstrumentPlan(name: name) { channels, resumeAfter in
            let ordered = channels.sorted { $0.instrumentChannel < $1.instrumentChannel }
            let injected = Dictionary(uniqueKeysWithValues: ordered.compactMap { c in fixedFaults[c.name].map { (c.id, $0) } })
            let cohort = FaultyCohort(channels: ordered.map(\.id), faults: injected, onset: onset, step: step, restSeconds: rest,
                                      seed: seed, start: .now(), firstSequence: resumeAfter.mapValues { $0 + 1 })
            return SimulatedCohort(name: name, cohort: cohort, timeScale: timeScale)
        }
    }
}
