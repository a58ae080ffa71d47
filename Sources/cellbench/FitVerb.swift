import ArgumentParser
import BenchCore
import Electrochem
import Foundation

/// `cellbench fit`: fits an equivalent circuit to spectrum files, with a Lin-KK check.
struct FitVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit an equivalent circuit to impedance spectra (CSV, BioLogic .mpt, Gamry .DTA, ZPlot .z).",
        discussion: "Circuits use impedance.py's syntax, e.g. R0-p(R1,CPE1)-p(R2-Wo1,C2), or the preset li-ion. See docs/impedance.md."
    )

    @Argument(help: "Spectrum files.") var files: [String]
    @Option(help: "Circuit string, e.g. 'R0-p(R1,CPE1)-W1'.") var circuit: String
    @Option(help: "Residual weights: unit, modulus, proportional or spread (default: spread for the li-ion circuit, unit otherwise).")
    var weights: Weighting?
    @Option(help: "Starting values NAME=VALUE (repeatable or comma-separated); others are guessed from the spectrum.")
    var initial: [String] = []
    @Option(help: "Parameters held fixed, NAME=VALUE.") var fixed: [String] = []
    @Option(help: "Number of starts (shape-based alternatives, then random perturbations); default: each shape-based guess once.") var starts: Int?
    @Flag(help: "Drop points with Im Z > 0 (inductive) before fitting.") var dropInductive = false
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Write Nyquist and Bode plots as SVG (with several files, the file name is added).") var plot: String?
    @Option(help: "inverse, inverse+lm or lm (default: inverse+lm for the li-ion circuit, lm otherwise).")
    var method: FitMethod?
    @Option(help: "Inverse-model file (default: the model shipped with cellbench).") var model: String?
    @Option(help: ArgumentHelp("li-ion circuit variant for the inverse methods: switches such as inductor,no-loop,arcs=2,warburg, or auto.",
                               discussion: "Default cpe-inductance,loop,arcs=3,cpe-diffusion (the full circuit). See docs/inverse-model.md."))
    var variant: String?

    func validate() throws {
        guard starts.map({ $0 >= 1 }) ?? true else { throw ValidationError("--starts must be at least 1") }
    }

    func run() throws {
        let parsed: Circuit
        do { parsed = try Circuit(circuit) } catch { throw ValidationError(error.description) }
        var options = FitOptions(weighting: weights ?? SweepAnalyzer.defaultWeighting(for: parsed), starts: starts)
        options.initialGuess = try ImpedanceFiles.assignments(initial, option: "initial")
        options.fixed = try ImpedanceFiles.assignments(fixed, option: "fixed")
        var choice = VariantChoice.fixed(.full)
        if let variant {
            do { choice = try VariantChoice(parsing: variant) } catch { throw ValidationError("--variant: \(error)") }
        }
        let analyzer: SweepAnalyzer
        do {
            analyzer = try SweepAnalyzer(circuit: circuit, fitOptions: options, method: method,
                                         inverseModel: try model.map(InverseFiles.model), variant: choice)
        } catch let error as CircuitParseError {
            throw ValidationError(error.description)
        }
        if variant != nil, analyzer.method == .lm { throw ValidationError("--variant needs --method inverse or inverse+lm (and --circuit li-ion)") }
        if analyzer.method != .lm {
            guard analyzer.circuit.description == InverseModel.circuit.description else {
                throw ValidationError("--method \(analyzer.method.rawValue) needs --circuit \(LiIonFamily.circuitName)")
            }
            guard analyzer.inverseModel != nil else { throw ValidationError("the shipped inverse model is damaged; give --model") }
        }
        var outcomes: [FileAnalysis] = []
        var failed = false
        for path in files {
            var outcome = FileAnalysis(file: path)
            do {
                let file = try ImpedanceFiles.read(path)
                var spectrum = file.spectrum
                if dropInductive { spectrum = spectrum.droppingInductivePoints() }
                let points = zip(spectrum.frequencies, spectrum.impedance).map {
                    ImpedancePoint(frequency: $0, zReal: $1.real, zImag: $1.imaginary)
                }
                let analysis = analyzer.analyze(points)
                outcome.format = file.format
                outcome.partial = file.partial
                outcome.analysis = analysis
                if analysis.fit == nil { failed = true }
                if let plot, let fit = analysis.fit {
                    let target = files.count > 1 ? ImpedancePlot.path(plot, for: path) : plot
                    let svg = ImpedancePlot.svg(title: path, spectrum: spectrum, circuit: analyzer.circuit, fit: fit)
                    try svg.write(toFile: target, atomically: true, encoding: .utf8)
                }
            } catch {
                outcome.error = "\(error)"
                failed = true
            }
            outcomes.append(outcome)
            if !json { printTable(outcome) }
        }
        if json { print(try ImpedanceFiles.json(outcomes)) }
        if failed { throw ExitCode(1) }
    }

    private func printTable(_ outcome: FileAnalysis) {
        guard let analysis = outcome.analysis, let format = outcome.format else {
            ImpedanceFiles.printError("\(outcome.error ?? outcome.file)")
            return
        }
        print("\(outcome.file) (\(format.rawValue), \(analysis.pointCount) points)")
        if let partial = outcome.partial { print("  partial: \(partial)") }
        print("  circuit: \(analysis.circuit)   weights: \(analysis.fit?.weighting.rawValue ?? "—")")
        if let fit = analysis.fit {
            let width = max(9, fit.parameters.map(\.name.count).max() ?? 0)
            print("  " + "parameter".padding(toLength: width, withPad: " ", startingAt: 0) + "  value        std. error   unit")
            for p in fit.parameters {
                let error = p.fixed ? "fixed" : p.standardError.map(ImpedanceFiles.number) ?? "—"
                print("  " + p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                      + ImpedanceFiles.number(p.value).padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                      + error.padding(toLength: 11, withPad: " ", startingAt: 0) + "  " + p.unit)
            }
            if let inverse = analysis.inverse {
                print("  variant \(inverse.network.variant)" + (variant?.lowercased() == "auto" ? " (chosen by auto)" : ""))
                print("  method \(inverse.method.rawValue): network ρ \(ImpedanceFiles.number(inverse.network.reconstructionError)), "
                      + "fit ρ \(ImpedanceFiles.number(inverse.residual)), parameter shift \(ImpedanceFiles.number(inverse.parameterShift))"
                      + (inverse.abnormal ? "   warning: residual beyond the normal range" : ""))
            }
            print("  RMSE \(ImpedanceFiles.number(fit.rmse)) Ω   χ² \(ImpedanceFiles.number(fit.chiSquare))   iterations \(fit.iterations)\(fit.converged ? "" : " (not converged)")")
            for warning in fit.warnings { print("  warning: \(warning)") }
        } else {
            print("  fit failed: \(analysis.fitFailure ?? "unknown reason")")
        }
        if let kk = analysis.kk { print("  " + ImpedanceFiles.describe(kk)) }
        if let reason = analysis.kkFailure { print("  Lin-KK failed: \(reason)") }
    }
}
