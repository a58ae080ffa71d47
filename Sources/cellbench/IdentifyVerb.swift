import ArgumentParser
import Estimation
import Fractional

/// `cellbench identify`: fits a cell model to a pulse recording.
struct IdentifyVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identify",
        abstract: "Fit R0, R ∥ CPE branches and optionally a Warburg element to a pulse (HPPC) recording; write a cell file.")

    @Option(help: "Recording CSV: time_s,current_a,voltage_v (current positive into the cell).") var recording: String
    @Option(help: "OCV table CSV: soc,ocv_v.") var ocv: String
    @Option(help: "Cell capacity, Ah.") var capacityAh: Double
    @Option(help: "Number of R ∥ CPE branches.") var branches = 2
    @Flag(help: "Add a Warburg element.") var warburg = false
    @Flag(help: "Fix every alpha at 1 (integer-order RC branches, for the ekf2rc observer).") var integerOrder = false
    @Option(help: "A time step longer than this (s) is a gap in the log: the next rows start a new rested segment.")
    var gapThreshold = 600.0
    @Option(help: "Leave out segments that start below this SOC (nonlinear near empty).") var minimumSoc = 0.1
    @Option(help: "Output cell file (TOML).") var out: String

    func run() throws {
        guard capacityAh > 0 else { throw ValidationError("--capacity-ah must be > 0") }
        guard (1...5).contains(branches) else { throw ValidationError("--branches must be 1…5") }
        let data = try Recording(contentsOf: recording)
        let table = try OCVTable(contentsOf: ocv)
        var options = PulseIdentification.Options()
        options.branches = branches
        options.warburg = warburg
        options.integerOrder = integerOrder
        options.gapThreshold = gapThreshold
        options.minimumSOC = minimumSoc
        let fit = try PulseIdentification(times: data.times, currents: data.currents, voltages: data.voltages,
                                          ocv: table, capacityAh: capacityAh, options: options).fit()
        let comment = "identified by cellbench identify from \(recording): rms residual \(fit.rmsResidual) V after \(fit.iterations) iterations"
        try writeText(CellFile.text(fit.model, ocvPath: CellFile.relativePath(of: ocv, fromFolderOf: out), comment: comment), to: out)
        print(comment)
    }
}
