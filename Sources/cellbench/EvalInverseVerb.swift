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
        spread of Re Z and Im Z) is at most the model's threshold (0.1). See docs/inverse-model.md.
        """
    )

    @Option(help: "Directory of spectrum files to evaluate.") var data: String?
    @Option(help: "Also evaluate N generated spectra (seed --seed, noise 0.5–2 %).") var synthetic: Int = 0
    @Option(help: "Seed of the generated spectra (training uses other streams by default).") var seed: UInt64 = 1_000_003
    @Option(help: "Inverse-model file (default: the shipped model).") var model: String?
    @Flag(help: "Also fit every spectrum by Levenberg–Marquardt from the automatic guess, for comparison.") var compareLm = false
    @Option(help: "Write SVG plots of the spectra nearest the threshold into this directory.") var plots: String?

    func validate() throws {
        guard synthetic >= 0 else { throw ValidationError("--synthetic must not be negative") }
        guard data != nil || synthetic > 0 else { throw ValidationError("give --data DIR and/or --synthetic N") }
    }

    struct Row {
        var name: String
        var spectrum: Spectrum
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
        var rows: [Row] = try data.map { try InverseFiles.spectra(in: $0).map { Row(name: $0.name, spectrum: $0.spectrum) } } ?? []
        var generator = SyntheticSpectra(seed: seed, noise: 0.005...0.02)
        for k in 0..<synthetic { rows.append(Row(name: "synthetic-\(k + 1)", spectrum: generator.next().spectrum)) }
        let progress = ProgressLine(total: rows.count)
        var workspace = InverseNetwork.Workspace()
        for i in rows.indices {
            let spectrum = rows[i].spectrum
            let clock = ContinuousClock()
            var start = clock.now
            if let p = try? inverse.predict(spectrum, workspace: &workspace) { rows[i].network = p.reconstructionError }
            rows[i].networkSeconds = (clock.now - start).seconds
            start = clock.now
            if let f = try? inverse.fit(spectrum, method: .inverseThenLM) {
                rows[i].polished = f.residual
                rows[i].polishedFit = f.fit
                rows[i].usedAutomaticGuess = f.usedAutomaticGuess
            }
            rows[i].polishSeconds = (clock.now - start).seconds
            if compareLm {
                start = clock.now
                if let f = try? InverseModel.circuit.fit(spectrum) {
                    rows[i].lm = RescaledResidual(spectrum: spectrum, circuit: InverseModel.circuit, parameters: f.parameters.map(\.value)).value
                }
                rows[i].lmSeconds = (clock.now - start).seconds
            }
            if (i + 1) % 20 == 0 || i + 1 == rows.count { progress.show(i + 1, detail: "") }
        }
        progress.finish()
        let threshold = inverse.properFitThreshold
        print("\(rows.count) spectra; properly fitted = rescaled residual ρ ≤ \(threshold)")
        report("network alone", rows.map(\.network), rows.map(\.networkSeconds), threshold: threshold)
        report("inverse+lm", rows.map(\.polished), rows.map(\.polishSeconds), threshold: threshold)
        let rescued = rows.filter { $0.usedAutomaticGuess && $0.polished <= threshold }.count
        print("    of which \(rescued) properly fitted only through the automatic-guess fallback; "
              + "\(rows.filter(\.usedAutomaticGuess).count) spectra needed the fallback")
        if compareLm { report("lm (automatic guess)", rows.map(\.lm), rows.map(\.lmSeconds), threshold: threshold) }
        if let plots { try writeExamples(rows, threshold: threshold, directory: plots) }
    }

    private func report(_ label: String, _ residuals: [Double], _ seconds: [Double], threshold: Double) {
        let fitted = residuals.filter { $0 <= threshold }.count
        let sorted = residuals.sorted()
        let median = sorted.isEmpty ? .nan : sorted[sorted.count / 2]
        let total = seconds.reduce(0, +)
        print("  " + label.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "properly fitted %5.1f %% (%d/%d)   median ρ %.4f   %.3f ms/spectrum",
                     100 * Double(fitted) / Double(max(residuals.count, 1)), fitted, residuals.count,
                     median, 1000 * total / Double(max(seconds.count, 1))))
    }

    /// Plots of the polished fits nearest the threshold, two on each side.
    private func writeExamples(_ rows: [Row], threshold: Double, directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let below = rows.filter { $0.polished <= threshold }.sorted { $0.polished > $1.polished }.prefix(2)
        let above = rows.filter { $0.polished > threshold && $0.polished.isFinite }.sorted { $0.polished < $1.polished }.prefix(2)
        for row in below + above {
            guard let fit = row.polishedFit else { continue }
            let title = "\(row.name): ρ = \(String(format: "%.3f", row.polished))"
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
