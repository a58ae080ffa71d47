import ArgumentParser
import ComplexModule
import BenchCore
import Estimation
import Foundation
import Fractional

/// Fractional engine and SOC observer figures for BENCHMARKS.md.
struct FractionalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fractional",
        abstract: "Mittag-Leffler cost and accuracy, observer step cost and memory (fast kernel vs full memory), Panasonic SOC errors.")

    @Option(help: "Mittag-Leffler reference fixture (mpmath values).")
    var fixture = "Tests/FractionalTests/Fixtures/mittag_leffler.csv"
    @Option(help: "Three-parameter Mittag-Leffler reference fixture (mpmath values).")
    var prabhakarFixture = "Tests/FractionalTests/Fixtures/prabhakar.csv"
    @Option(help: "Folder with the Panasonic drive cycles, OCV table and identified cell files.")
    var panasonic = "Tests/EstimationTests/Fixtures/panasonic"
    @Option(help: "History length for the step-cost comparison.") var steps = 1_000_000
    @Flag(help: "Only the Mittag-Leffler figures.") var mittagLefflerOnly = false

    func run() throws {
        try mittagLeffler()
        try prabhakar()
        guard !mittagLefflerOnly else { return }
        stepCost()
        try panasonicErrors()
    }

    private func seconds(_ body: () -> Void) -> Double {
        let start = BenchClock.monotonicNs()
        body()
        return Double(BenchClock.monotonicNs() - start) / 1e9
    }

    private func mittagLeffler() throws {
        // Accuracy on the committed fixture grid.
        let csv = try CSVColumns(contentsOf: fixture, required: ["alpha", "beta", "z_re", "z_im", "e_re", "e_im"])
        var worstReal = 0.0, worstAll = 0.0
        for i in 0..<csv.rowCount {
            let z = (csv["z_re"][i], csv["z_im"][i])
            let value = MittagLeffler.evaluate(.init(z.0, z.1), alpha: csv["alpha"][i], beta: csv["beta"][i])
            let dr = value.real - csv["e_re"][i], di = value.imaginary - csv["e_im"][i]
            let size = max((csv["e_re"][i] * csv["e_re"][i] + csv["e_im"][i] * csv["e_im"][i]).squareRoot(), 1e-3)
            let error = (dr * dr + di * di).squareRoot() / size
            worstAll = max(worstAll, error)
            if z.1 == 0 { worstReal = max(worstReal, error) }
        }
        print(String(format: "mittag-leffler: %d fixture points, worst relative error %.2e (real z: %.2e)", csv.rowCount, worstAll, worstReal))
        // Cost for real arguments on the models' range: α ∈ {0.5, 0.633, 2/3, 0.9}, β ∈ {1, α+1}, z ∈ [-1000, 10].
        for (label, range) in [("z in [-1000, -0.25]", (-1000.0, -0.25)), ("z in [-8, 10]", (-8.0, 10.0))] {
            var sum = 0.0
            var count = 0
            let time = seconds {
                for alpha in [0.5, 0.633, 2.0 / 3.0, 0.9] {
                    for beta in [1.0, alpha + 1] {
                        for k in 0..<2000 {
                            let z = range.0 + (range.1 - range.0) * Double(k) / 1999
                            sum += MittagLeffler.evaluate(z, alpha: alpha, beta: beta)
                            count += 1
                        }
                    }
                }
            }
            print(String(format: "mittag-leffler: real %@: %.3f µs per evaluation (%d evaluations, checksum %.6g)", label, time / Double(count) * 1e6, count, sum))
            // The same arguments through tables built once per (α, β) (build time reported apart).
            var tables: [MittagLeffler.RealFunction] = []
            let buildTime = seconds {
                for alpha in [0.5, 0.633, 2.0 / 3.0, 0.9] {
                    for beta in [1.0, alpha + 1] { tables.append(MittagLeffler.RealFunction(alpha: alpha, beta: beta)) }
                }
            }
            var tableSum = 0.0
            let repeats = 50
            let tableTime = seconds {
                for _ in 0..<repeats {
                    for table in tables {
                        for k in 0..<2000 { tableSum += table(range.0 + (range.1 - range.0) * Double(k) / 1999) }
                    }
                }
            }
            print(String(format: "mittag-leffler: real %@, tabulated: %.1f ns per evaluation (%d evaluations, checksum %.6g), %.1f ms to build each table",
                         label, tableTime / Double(count * repeats) * 1e9, count * repeats, tableSum / Double(repeats),
                         buildTime / Double(tables.count) * 1e3))
        }
        // Tables against the fixture at its real arguments.
        var worstTable = 0.0
        var tables: [String: MittagLeffler.RealFunction] = [:]
        for i in 0..<csv.rowCount where csv["z_im"][i] == 0 {
            let (alpha, beta) = (csv["alpha"][i], csv["beta"][i])
            let key = "\(alpha),\(beta)"
            let table = tables[key] ?? MittagLeffler.RealFunction(alpha: alpha, beta: beta)
            tables[key] = table
            let expected = csv["e_re"][i]
            guard abs(expected) <= 1e10 else { continue }
            worstTable = max(worstTable, abs(table(csv["z_re"][i]) - expected) / max(abs(expected), 1e-3))
        }
        print(String(format: "mittag-leffler: tabulated, worst relative error at the fixture's real arguments with |E| ≤ 1e10: %.2e", worstTable))
    }

    private func prabhakar() throws {
        let csv = try CSVColumns(contentsOf: prabhakarFixture, required: ["alpha", "beta", "gamma", "z_re", "z_im", "e_re", "e_im"])
        var worst = 0.0, evaluated = 0
        for i in 0..<csv.rowCount {
            let value = MittagLeffler.evaluate(.init(csv["z_re"][i], csv["z_im"][i]), alpha: csv["alpha"][i], beta: csv["beta"][i], gamma: csv["gamma"][i])
            guard value.isFinite else { continue }
            evaluated += 1
            let dr = value.real - csv["e_re"][i], di = value.imaginary - csv["e_im"][i]
            let size = max((csv["e_re"][i] * csv["e_re"][i] + csv["e_im"][i] * csv["e_im"][i]).squareRoot(), 1e-3)
            worst = max(worst, (dr * dr + di * di).squareRoot() / size)
        }
        print(String(format: "prabhakar: %d of %d fixture points evaluated, worst relative error %.2e", evaluated, csv.rowCount, worst))
        // Cost per region: α ∈ {0.5, 0.633, 0.9}, β ∈ {1, α+1}, γ ∈ {0.5, 1.7}, 500 arguments each.
        let regions: [(String, (Int) -> Complex<Double>)] = [
            ("negative real z in [-100, -0.25]", { k in Complex(-0.25 - 99.75 * Double(k) / 499, 0) }),
            ("positive real z in [0.25, 30]", { k in Complex(0.25 + 29.75 * Double(k) / 499, 0) }),
            ("|z| = 30, arg z in [0, pi/2]", { k in Complex(length: 30, phase: Double.pi / 2 * Double(k) / 499) }),
        ]
        for (label, argument) in regions {
            var sum = Complex<Double>.zero
            var count = 0, finite = 0
            let time = seconds {
                for alpha in [0.5, 0.633, 0.9] {
                    for beta in [1.0, alpha + 1] {
                        for gamma in [0.5, 1.7] {
                            for k in 0..<500 {
                                let value = MittagLeffler.evaluate(argument(k), alpha: alpha, beta: beta, gamma: gamma)
                                count += 1
                                if value.isFinite { sum += value; finite += 1 }
                            }
                        }
                    }
                }
            }
            print(String(format: "prabhakar: %@: %.2f µs per evaluation (%d evaluations, %d finite, checksum %.6g)",
                         label, time / Double(count) * 1e6, count, finite, sum.length))
        }
    }

    private func stepCost() {
        let element = RelaxationElement.parallelCPE(r: 0.0179, t: 3.42, alpha: 0.633)
        let step = 1.0
        // Fast kernel: N steps of a varying current.
        var memory = ElementMemory(element: element, minimumStep: step, horizon: Double(steps) * step)
        var checksum = 0.0
        let fastTime = seconds {
            for n in 0..<steps {
                memory.advance(by: step, current: sin(Double(n) * 0.01))
                checksum += memory.voltage
            }
        }
        let fastBytes = memory.modeCount * 3 * MemoryLayout<Double>.size
        print(String(format: "kernel: exponential sum, %d modes: %.1f ns per step over %d steps, state %d bytes (checksum %.6g)",
                     memory.modeCount, fastTime / Double(steps) * 1e9, steps, fastBytes, checksum))
        // Full-memory Grünwald–Letnikov: the cost of one step once the history holds N values.
        let weights = FullMemory.grunwaldWeights(order: 0.633, count: steps + 1)
        let history = (0...steps).map { sin(Double($0) * 0.01) }
        var sum = 0.0
        let repeats = 20
        let fullTime = seconds {
            weights.withUnsafeBufferPointer { w in
                history.withUnsafeBufferPointer { h in
                    for r in 0..<repeats {
                        var s = 0.0
                        for k in 1...steps { s += w[k] * h[steps - k] }
                        sum += s + Double(r)
                    }
                }
            }
        }
        print(String(format: "kernel: full-memory Grünwald–Letnikov at N = %d: %.3f ms per step, state %d bytes (checksum %.6g)",
                     steps, fullTime / Double(repeats) * 1e3, (steps + 1) * 2 * MemoryLayout<Double>.size, sum))
        // Whole observer step (fractional EKF, two R ∥ CPE branches and a Warburg element).
        let model = CellModel(capacityAh: 3, seriesResistance: 0.028,
                              elements: [.parallelCPE(r: 0.003, t: 80, alpha: 0.9), .parallelCPE(r: 0.007, t: 3000, alpha: 0.8),
                                         .warburg(sigma: 1e-3)])
        var filter = SOCFilter(model: model, initialSOC: 0.9, minimumStep: step, horizon: Double(steps) * step)
        var socSum = 0.0
        let observerTime = seconds {
            for n in 0..<steps {
                let i = -2 + sin(Double(n) * 0.01)
                socSum += filter.update(step: step, heldCurrent: i, voltage: 3.7, current: i).soc
            }
        }
        print(String(format: "observer: foekf step (3 elements, uniform 1 s steps): %.2f µs per step over %d steps (checksum %.6g)",
                     observerTime / Double(steps) * 1e6, steps, socSum))
    }

    /// Each observer on each drive cycle; the foekf's σ with the OCV offset fitted on the other two cycles.
    private func panasonicErrors() throws {
        let cycles = ["us06", "hwfet", "la92"]
        var lines: [[String]] = cycles.map { _ in [] }
        var errors: [[Double]] = [], budgets: [[SOCErrorBudget]] = []
        for (k, cycle) in cycles.enumerated() {
            let recording = try Recording(contentsOf: "\(panasonic)/drive_\(cycle)_25C.csv")
            let reference = try CSVColumns(contentsOf: "\(panasonic)/drive_\(cycle)_25C_soc.csv", required: ["soc"])["soc"]
            for (method, cell) in [(SOCObserver.Method.foekf, "cell_fractional.toml"), (.ekf2rc, "cell_rc.toml"), (.coulomb, "cell_fractional.toml")] {
                var observer = try SOCObserver(model: CellFile.load("\(panasonic)/\(cell)"), method: method, initialSOC: 0.8)
                var cycleErrors: [Double] = [], cycleBudgets: [SOCErrorBudget] = []
                let time = seconds {
                    for n in recording.times.indices {
                        let e = observer.consume(time: recording.times[n], current: recording.currents[n], voltage: recording.voltages[n])
                        guard recording.times[n] >= 300 else { continue }
                        cycleErrors.append(e.soc - reference[n])
                        cycleBudgets.append(e.errorBudget)
                    }
                }
                if method == .foekf {
                    errors.append(cycleErrors)
                    budgets.append(cycleBudgets)
                }
                let rmse = (cycleErrors.map { $0 * $0 }.reduce(0, +) / Double(cycleErrors.count)).squareRoot()
                lines[k].append(String(format: "panasonic %@ %@: SOC RMSE %.2f %%, max %.2f %% (after 5 min, start 20 points off); %.2f µs/sample",
                                       cycle, method.rawValue, rmse * 100, (cycleErrors.map(abs).max() ?? 0) * 100,
                                       time / Double(recording.times.count) * 1e6))
                if method != .foekf {
                    let own = ModelErrorCalibration(resistanceSigma: 0, ocvSigma: 0).coverage(errors: cycleErrors, budgets: cycleBudgets)
                    lines[k][lines[k].count - 1] += String(format: "; |error| ≤ σ %.0f %%, ≤ 2σ %.0f %%", own.sigma * 100, own.twoSigma * 100)
                }
            }
        }
        for (k, fit) in ModelErrorCalibration.leaveOneOut(errors: errors, budgets: budgets).enumerated() {
            let held = fit.coverage(errors: errors[k], budgets: budgets[k])
            lines[k][0] += String(format: "; ocvSigma %.2f mV fitted on the other cycles: |error| ≤ σ %.0f %%, ≤ 2σ %.0f %%",
                                  fit.ocvSigma * 1000, held.sigma * 100, held.twoSigma * 100)
        }
        for line in lines.joined() { print(line) }
    }
}
