import BenchCore
import Simulator
import TOMLConfig

/// Builds the acquisition source of each `[[instruments]]` table by its `kind`.
enum InstrumentFactory {
    static let kinds = ["simulator"]

    static func make(_ instrument: BenchConfiguration.Instrument,
                     channels: [BenchConfiguration.Channel]) throws(ConfigError) -> any AcquisitionSource {
        let table = instrument.table
        switch instrument.kind {
        case "simulator":
            try table.rejectUnknownKeys(["name", "kind", "sample_rate_hz", "time_scale", "voltage_noise_v", "seed"])
            var settings = SimulatedBenchSettings()
            settings.sampleRateHz = try table.double("sample_rate_hz", in: 0.1...1000, default: settings.sampleRateHz)
            settings.timeScale = try table.double("time_scale", in: 0.001...100_000, default: settings.timeScale)
            settings.voltageNoise = try table.double("voltage_noise_v", in: 0...1, default: settings.voltageNoise)
            settings.seed = UInt64(try table.int("seed", in: 0...Int.max, default: 1))
            return SimulatedInstrument(name: instrument.name,
                                       channels: channels.map { ($0.info.id, $0.info.ratedCapacityAh) },
                                       settings: settings)
        default:
            throw table.error("kind", "unknown instrument kind '\(instrument.kind)' (known: \(kinds.joined(separator: ", ")))")
        }
    }
}
