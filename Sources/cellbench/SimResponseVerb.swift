import ArgumentParser
import Estimation
import Foundation
import Fractional

/// `cellbench sim-response`: voltage of a cell model under a current profile.
struct SimResponseVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim-response",
        abstract: "Simulate a cell file's voltage response to a current profile (time_s,current_a → time_s,voltage_v).")

    @Option(help: "Cell file (TOML).") var cell: String
    @Option(help: "Current profile CSV with columns time_s,current_a (A, positive into the cell), held between rows.")
    var current: String
    @Option(help: "Output CSV: time_s,voltage_v, one row per input row.") var out: String
    @Option(help: "SOC at the first row, 0…1.") var initialSoc = 1.0

    func run() throws {
        guard (0...1).contains(initialSoc) else { throw ValidationError("--initial-soc must be in [0, 1]") }
        let model = try CellFile.load(cell)
        let profile = try CurrentProfile(contentsOf: current)
        let steps = zip(profile.times.dropFirst(), profile.times).map { $0 - $1 }
        let voltages = CellSimulator.simulate(model, times: profile.times, currents: profile.currents,
                                              initialSOC: initialSoc, minimumStep: max(1e-6, steps.min() ?? 1))
        try writeText(csvText(header: ["time_s", "voltage_v"], columns: [profile.times, voltages]), to: out)
    }
}

/// Writes a whole output file, naming it in the error.
func writeText(_ text: String, to path: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
    }
}
