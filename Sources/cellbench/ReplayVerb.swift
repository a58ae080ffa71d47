import ArgumentParser
import Estimation
import Fractional

/// `cellbench replay`: runs an SOC observer over a recording.
struct ReplayVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run an SOC observer over a recording (→ time_s,soc,soc_sigma,voltage_pred_v).")

    @Option(help: "Cell file (TOML).") var cell: String
    @Option(help: "Recording CSV: time_s,current_a,voltage_v (current positive into the cell).") var recording: String
    @Option(help: "Output CSV: time_s,soc,soc_sigma,voltage_pred_v.") var out: String
    @Option(help: "Initial SOC, 0…1 (default: from the first, rested, voltage).") var initialSoc: Double?
    @Option(help: "Observer: foekf (fractional EKF), ekf2rc (integer-order EKF), coulomb.") var observer = "foekf"
    @Option(help: "Voltage noise plus model error, V (σ).") var voltageNoise = FilterTuning().voltageNoise
    @Option(help: "Relative capacity uncertainty (a capacity-scale state; 0 takes the capacity as exact).")
    var capacitySigma = FilterTuning().capacitySigma
    @Option(help: "Offset error of the OCV table, V (σ; considered in the reported SOC σ, 0 takes the table as exact).")
    var ocvSigma = FilterTuning().ocvSigma
    @Option(help: "Error of the series resistance R0, Ω (σ; considered in the reported SOC σ, 0 takes R0 as exact).")
    var resistanceSigma = FilterTuning().resistanceSigma
    @Flag(help: "Also estimate a constant current-sensor bias.") var estimateBias = false

    func run() throws {
        guard let method = SOCObserver.Method(rawValue: observer) else {
            throw ValidationError("--observer must be one of \(SOCObserver.Method.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard voltageNoise > 0 else { throw ValidationError("--voltage-noise must be > 0 V") }
        let model = try CellFile.load(cell)
        let data = try Recording(contentsOf: recording)
        var tuning = FilterTuning()
        tuning.voltageNoise = voltageNoise
        tuning.estimateBias = estimateBias
        guard capacitySigma >= 0 else { throw ValidationError("--capacity-sigma must be ≥ 0") }
        tuning.capacitySigma = capacitySigma
        guard ocvSigma >= 0 else { throw ValidationError("--ocv-sigma must be ≥ 0 V") }
        tuning.ocvSigma = ocvSigma
        guard resistanceSigma >= 0 else { throw ValidationError("--resistance-sigma must be ≥ 0 Ω") }
        tuning.resistanceSigma = resistanceSigma
        var state = try SOCObserver(model: model, method: method, tuning: tuning, initialSOC: initialSoc)
        var soc: [Double] = [], sigma: [Double] = [], predicted: [Double] = []
        for n in data.times.indices {
            let estimate = state.consume(time: data.times[n], current: data.currents[n], voltage: data.voltages[n])
            soc.append(estimate.soc)
            sigma.append(estimate.socSigma)
            predicted.append(estimate.predictedVoltage)
        }
        try writeText(csvText(header: ["time_s", "soc", "soc_sigma", "voltage_pred_v"],
                              columns: [data.times, soc, sigma, predicted]), to: out)
    }
}
