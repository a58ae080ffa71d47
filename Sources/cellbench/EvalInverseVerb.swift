import ArgumentParser
import Electrochem
import Foundation

/// `cellbench eval-inverse`: how well the inverse model fits a set of spectra, and how fast.
struct EvalInverseVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-inverse",
        abstract: "Evaluate the EIS inverse model: share of spectra properly fitted, median residual, speed.",
        discussion: """
        A spectrum is properly fitted when its rescaled residual ρ (RMS misfit over the spectrum's own \
        spread of Re Z and Im Z) is at most its limit: the larger of the model's threshold (0.1) and \
        1.5 times the ρ that 2 % noise alone would leave. Fits minimise ρ (weighting spread). For \
        generated spectra ρ at the true parameters is also reported. Generated spectra are fitted \
        with the circuit variant that made them (their true switches) unless --variant is given, and the \
        shares are also reported per true variant; spectra from --data with --variant (default: the \
        full circuit). See docs/inverse-model.md.
        """
    )

    @Option(help: "Directory of spectrum files to evaluate.") var data: String?
    @Option(help: "Also evaluate N generated spectra (seed --seed, noise 0.5–2 %).") var synthetic: Int = 0
    @Option(help: "Seed of the generated spectra (training uses other streams by default).") var seed: UInt64 = 1_000_003
    @Option(help: "Inverse-model file (default: the shipped model).") var model: String?
    @Option(help: "li-ion circuit variant to fit (switches such as inductor,no-loop,arcs=2,warburg, or auto); default: the full circuit for --data, the true switches for generated spectra.")
    var variant: String?
    @Flag(help: "Also fit every spectrum by Levenberg–Marquardt from the automatic guess, for comparison.") var compareLm = false
    @Flag(help: "Only run the network (throughput); no polish.") var networkOnly = false
    @Option(help: "Write SVG plots of the spectra nearest the threshold into this directory.") var plots: String?
    @Option(help: "Write the spectra (spectra.csv) and each one's proper-fit limit (cases.csv) into this directory, for other tools.")
    var export: String?

    func validate() throws {
        guard synthetic >= 0 else { throw ValidationError("--synthetic must not be negative") }
        guard data != nil || synthetic > 0 else { throw ValidationError("give --data DIR and/or --synthetic N") }
    }

    struct Row {
        var name: String
        var spectrum: Spectrum
        /// ρ at the generating parameters (generated spectra only).
        var truth: Double?
        /// How the spectrum is fitted (after the network ran: the variant it used).
        var choice: VariantChoice
        /// The variant that generated the spectrum (generated spectra only).
        var trueVariant: CircuitVariant? = nil
        var limit = 0.0
        var network = Double.infinity, polished = Double.infinity, lm = Double.infinity
        var networkSeconds = 0.0, polishSeconds = 0.0, lmSeconds = 0.0
        var polishedFit: FitResult?
        var usedAutomaticGuess = false
    }

    func run() throws {
        let inverse: InverseModel
        if let model {
            inverse = try InverseFiles.model(model)
        } else {
            guard let shipped = InverseModel.shipped else { throw ValidationError("the shipped inverse model is damaged; give --model") }
            inverse = shipped
        }
        var given: VariantChoice?
        if let variant {
            do { given = try VariantChoice(parsing: variant) } catch { throw ValidationError("--variant: \(error)") }
        }
        var rows: [Row] = try data.map {
            try InverseFiles.spectra(in: $0).map { Row(name: $0.name, spectrum: $0.spectrum, choice: given ?? .fixed(.full)) }
        } ?? []
        var generator = SyntheticSpectra(seed: seed, noise: 0.005...0.02)
        for k in 0..<synthetic {
            let (spectrum, theta, variant) = generator.next()
            rows.append(Row(name: "synthetic-\(k + 1)", spectrum: spectrum,
                            truth: RescaledResidual(spectrum: spectrum, circuit: InverseModel.circuit,
                                                    parameters: LiIonFamily.circuitParameters(theta, variant: variant)).value,
                            choice: given ?? .fixed(variant), trueVariant: variant))
        }
        // Values for the removed elements of a variant fitted by LM from the automatic guess.
        let placeholders = LiIonFamily.circuitParameters(inverse.priorMean)
        let options = FitOptions(weighting: .spread)
        let progress = ProgressLine(total: rows.count)
        var workspace = InverseNetwork.Workspace()
        for i in rows.indices {
            let spectrum = rows[i].spectrum
            rows[i].limit = inverse.properFitLimit(for: spectrum)
            let clock = ContinuousClock()
            var start = clock.now
            if let p = try? inverse.predict(spectrum, choice: rows[i].choice, workspace: &workspace) {
                rows[i].network = p.reconstructionError
                rows[i].choice = .fixed(p.variant)
            }
            rows[i].networkSeconds = (clock.now - start).seconds
            if networkOnly { continue }
            start = clock.now
            if let f = try? inverse.fit(spectrum, method: .inverseThenLM, variant: rows[i].choice, options: options) {
                rows[i].polished = f.residual
                rows[i].polishedFit = f.fit
                rows[i].usedAutomaticGuess = f.usedAutomaticGuess
            }
            rows[i].polishSeconds = (clock.now - start).seconds
            if compareLm {
                start = clock.now
                var lmOptions = options
                if case .fixed(let variant) = rows[i].choice { lmOptions.fixed = variant.fixedParameters(placeholders) }
                if let f = try? InverseModel.circuit.fit(spectrum, options: lmOptions) {
                    rows[i].lm = RescaledResidual(spectrum: spectrum, circuit: InverseModel.circuit, parameters: f.parameters.map(\.value)).value
                }
                rows[i].lmSeconds = (clock.now - start).seconds
            }
            if (i + 1) % 20 == 0 || i + 1 == rows.count { progress.show(i + 1, detail: "") }
        }
        progress.finish()
        let limits = rows.map(\.limit)
        print("\(rows.count) spectra; properly fitted = ρ ≤ max(\(inverse.properFitThreshold), "
              + "\(InverseModel.noiseMargin) × ρ of \(100 * InverseModel.noiseAllowance) % noise); "
              + "\(rows.filter { $0.limit > inverse.properFitThreshold }.count) spectra have a limit above \(inverse.properFitThreshold)")
        let truths = rows.compactMap(\.truth)
        if !truths.isEmpty {
            report("true parameters", truths, [], limits: rows.filter { $0.truth != nil }.map(\.limit))
            print("    ρ ≤ \(inverse.properFitThreshold) at the true parameters: \(truths.filter { $0 <= inverse.properFitThreshold }.count)/\(truths.count)")
        }
        report("network alone", rows.map(\.network), rows.map(\.networkSeconds), limits: limits)
        reportMisses(rows.map(\.network), limits: limits)
        // Per-variant shares last, also after a network-only run.
        defer { if !truths.isEmpty { reportVariants(rows.filter { $0.truth != nil }) } }
        if networkOnly { return }
        report("inverse+lm", rows.map(\.polished), rows.map(\.polishSeconds), limits: limits)
        let rescued = rows.filter { $0.usedAutomaticGuess && $0.polished <= $0.limit }.count
        print("    the search from the automatic guesses gave the better fit for "
              + "\(rows.filter(\.usedAutomaticGuess).count) spectra, \(rescued) of them properly fitted")
        if compareLm { report("lm (automatic guess)", rows.map(\.lm), rows.map(\.lmSeconds), limits: limits) }
        if !truths.isEmpty {
            // Stricter, generated spectra only: as good as the truth (within 10 %) or ρ ≤ threshold.
            let generated = rows.filter { $0.truth != nil }
            let strict = generated.map { max(inverse.properFitThreshold, 1.1 * ($0.truth ?? 0)) }
            print("    against the truth, ρ ≤ max(\(inverse.properFitThreshold), 1.1 × ρ at the true parameters):")
            report("  network alone", generated.map(\.network), [], limits: strict)
            report("  inverse+lm", generated.map(\.polished), [], limits: strict)
            if compareLm { report("  lm (automatic guess)", generated.map(\.lm), [], limits: strict) }
        }
        if let plots { try writeExamples(rows, directory: plots) }
        if let export { try write(rows, to: export) }
    }

    /// `spectra.csv` (case, frequency, Re Z, Im Z) and `cases.csv` (case, name, limit).
    private func write(_ rows: [Row], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var spectra = "case,frequency_hz,z_real_ohm,z_imag_ohm\n", cases = "case,name,limit\n"
        for (k, row) in rows.enumerated() {
            cases += "\(k),\(row.name),\(row.limit)\n"
            for (f, z) in zip(row.spectrum.frequencies, row.spectrum.impedance) { spectra += "\(k),\(f),\(z.real),\(z.imaginary)\n" }
        }
        try spectra.write(toFile: (directory as NSString).appendingPathComponent("spectra.csv"), atomically: true, encoding: .utf8)
        try cases.write(toFile: (directory as NSString).appendingPathComponent("cases.csv"), atomically: true, encoding: .utf8)
    }

    private func report(_ label: String, _ residuals: [Double], _ seconds: [Double], limits: [Double]) {
        let fitted = zip(residuals, limits).filter { $0 <= $1 }.count
        let sorted = residuals.sorted()
        let median = sorted.isEmpty ? .nan : sorted[sorted.count / 2]
        let total = seconds.reduce(0, +)
        print("  " + label.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "properly fitted %5.1f %% (%d/%d)   median ρ %.4f   %.3f ms/spectrum",
                     100 * Double(fitted) / Double(max(residuals.count, 1)), fitted, residuals.count,
                     median, seconds.isEmpty ? .nan : 1000 * total / Double(seconds.count)))
    }

    /// How far the misses lie beyond their limit: near misses call for precision, far ones for another start.
    private func reportMisses(_ residuals: [Double], limits: [Double]) {
        let ratios = zip(residuals, limits).map { $0 / $1 }.filter { $0 > 1 }.sorted()
        guard !ratios.isEmpty else { return }
        let quantile = { (q: Double) in ratios[min(ratios.count - 1, Int(q * Double(ratios.count)))] }
        print(String(format: "    misses: ρ/limit quartiles %.2f / %.2f / %.2f, largest %.2f; %d of %d within 1.25 × the limit",
                     quantile(0.25), quantile(0.5), quantile(0.75), ratios[ratios.count - 1],
                     ratios.filter { $0 <= 1.25 }.count, ratios.count))
    }

    /// Shares properly fitted per true circuit variant (generated spectra).
    private func reportVariants(_ rows: [Row]) {
        print("    per true variant (generated spectra, fitted with \(variant ?? "their true switches")): count, "
              + "properly fitted by network alone" + (networkOnly ? "" : " / inverse+lm"))
        for variant in CircuitVariant.all {
            let members = rows.filter { $0.trueVariant == variant }
            guard !members.isEmpty else { continue }
            let share = { (values: [Double]) in
                String(format: "%5.1f %%", 100 * Double(zip(values, members).filter { $0 <= $1.limit }.count) / Double(members.count))
            }
            print("      " + variant.description.padding(toLength: 44, withPad: " ", startingAt: 0)
                  + String(format: "%4d   ", members.count) + share(members.map(\.network))
                  + (networkOnly ? "" : " / " + share(members.map(\.polished))))
        }
    }

    /// Plots of the polished fits nearest their limit, two on each side.
    private func writeExamples(_ rows: [Row], directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ratio = { (row: Row) in row.polished / row.limit }
        let below = rows.filter { ratio($0) <= 1 }.sorted { ratio($0) > ratio($1) }.prefix(2)
        let above = rows.filter { ratio($0) > 1 && $0.polished.isFinite }.sorted { ratio($0) < ratio($1) }.prefix(2)
        for row in below + above {
            guard let fit = row.polishedFit else { continue }
            let title = "\(row.name) (\(row.choice)): ρ = \(String(format: "%.3f", row.polished)), limit \(String(format: "%.3f", row.limit))"
            let svg = ImpedancePlot.svg(title: title, spectrum: row.spectrum, circuit: InverseModel.circuit, fit: fit)
            let path = (directory as NSString).appendingPathComponent(row.name.replacingOccurrences(of: ".", with: "_") + ".svg")
            try svg.write(toFile: path, atomically: true, encoding: .utf8)
            print("  wrote \(path)")
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
