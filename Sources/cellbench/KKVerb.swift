import ArgumentParser
import Electrochem
import Foundation

/// `cellbench kk`: Lin-KK validity check of spectrum files.
struct KKVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kk",
        abstract: "Check impedance spectra for Kramers–Kronig consistency (Lin-KK, Schönleber et al.)."
    )

    @Argument(help: "Spectrum files.") var files: [String]
    @Option(help: "μ cut-off that stops adding RC elements.") var c: Double = 0.85
    @Option(help: "Maximum number of RC elements.") var maxElements: Int = 50
    @Option(help: "Largest relative residual of a valid spectrum.") var limit: Double = 0.01
    @Flag(help: "Fit no series capacitor (impedance.py's add_cap=False).") var noCapacitor = false
    @Option(help: "Part of the spectrum the RC elements are fitted to: real, imag or complex (impedance.py's fit_type).")
    var mode: LinKKMode = .real
    @Flag(help: "Print JSON instead of text.") var json = false

    struct Outcome: Encodable {
        var file: String
        var error: String?
        var kk: LinKKResult?
    }

    func validate() throws {
        guard c > 0, c <= 1 else { throw ValidationError("--c must be in (0, 1]") }
        guard maxElements >= 1 else { throw ValidationError("--max-elements must be at least 1") }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        let options = LinKKOptions(c: c, maxElements: maxElements, seriesCapacitor: !noCapacitor, residualLimit: limit, mode: mode)
        var outcomes: [Outcome] = []
        var invalid = false
        for path in files {
            var outcome = Outcome(file: path)
            do {
                let result = try ImpedanceFiles.read(path).spectrum.linKK(options)
                outcome.kk = result
                if result.verdict == .invalid { invalid = true }
                if !json { print("\(path): " + ImpedanceFiles.describe(result)) }
            } catch {
                outcome.error = "\(error)"
                invalid = true
                if !json { ImpedanceFiles.printError("\(error)") }
            }
            outcomes.append(outcome)
        }
        if json { print(try ImpedanceFiles.json(outcomes)) }
        if invalid { throw ExitCode(1) }
    }
}
