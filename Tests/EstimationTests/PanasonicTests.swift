import BenchCore
import Foundation
import Testing
import Fractional
@testable import Estimation

/// Observers on the measured Panasonic NCR18650PF drive cycles (Fixtures/panasonic/ATTRIBUTION.md),
/// with models identified from the same cell's HPPC test, started 20 SOC points off (0.8 instead of 1.0).
@Suite struct PanasonicTests {
    struct Score {
        var rmse: Double
        var maximum: Double
        /// Error and the filter's SOC error budget of every scored point.
        var errors: [Double] = [], budgets: [SOCErrorBudget] = []

        func coverage(_ calibration: ModelErrorCalibration) -> (sigma: Double, twoSigma: Double) {
            calibration.coverage(errors: errors, budgets: budgets)
        }
    }

    /// Replays a cycle through `SOCObserver` one `Sample` at a time; error against the reference SOC after 5 min.
    static func score(cycle: String, cell: String, method: SOCObserver.Method, tuning: FilterTuning = FilterTuning()) throws -> Score {
        let model = try CellFile.load(Fixture.path("panasonic/\(cell)"))
        let recording = try Recording(contentsOf: Fixture.path("panasonic/drive_\(cycle)_25C.csv"))
        let reference = try CSVColumns(contentsOf: Fixture.path("panasonic/drive_\(cycle)_25C_soc.csv"), required: ["time_s", "soc"])
        var observer = try SOCObserver(model: model, method: method, tuning: tuning, initialSOC: 0.8)
        var score = Score(rmse: 0, maximum: 0)
        for n in recording.times.indices {
            let t = recording.times[n]
            let sample = Sample(channel: ChannelID(0), sequence: UInt64(n),
                                time: Timestamp(monotonicNs: Int64((t * 1e9).rounded()), wallNs: 0),
                                voltage: recording.voltages[n], current: recording.currents[n])
            let estimate = observer.consume(sample)
            guard t >= 300 else { continue }
            let error = estimate.soc - reference["soc"][n]
            score.errors.append(error)
            score.budgets.append(estimate.errorBudget)
            score.maximum = max(score.maximum, abs(error))
        }
        score.rmse = (score.errors.map { $0 * $0 }.reduce(0, +) / Double(max(score.errors.count, 1))).squareRoot()
        return score
    }

    static let cycles = ["us06", "hwfet", "la92"]
    /// The fractional EKF with default tuning on each cycle, replayed once for the tests that share it.
    static let fractionalScores = Result { try cycles.map { try score(cycle: $0, cell: "cell_fractional.toml", method: .foekf) } }

    /// Goals: fractional EKF RMSE ≤ 1.5 % and maximum ≤ 4 % after the first 5 minutes on every
    /// cycle, and better than the integer-order 2-RC EKF on every cycle.
    @Test(arguments: [0, 1, 2])
    func fractionalObserverMeetsGoals(index: Int) throws {
        let cycle = Self.cycles[index], fractional = try Self.fractionalScores.get()[index]
        let integer = try Self.score(cycle: cycle, cell: "cell_rc.toml", method: .ekf2rc)
        #expect(fractional.rmse <= 0.015, "\(cycle): foekf RMSE \(fractional.rmse)")
        #expect(fractional.maximum <= 0.04, "\(cycle): foekf max \(fractional.maximum)")
        #expect(fractional.rmse < integer.rmse, "\(cycle): foekf \(fractional.rmse) vs ekf2rc \(integer.rmse)")
        // Coulomb counting never corrects its initial 20-point error.
        let coulomb = try Self.score(cycle: cycle, cell: "cell_fractional.toml", method: .coulomb)
        #expect(abs(coulomb.rmse - 0.2) < 1e-3)
    }

    /// The reported σ is calibrated on data the evaluation does not use: the OCV-table offset is
    /// fitted (maximum likelihood, `ModelErrorCalibration`) on two cycles and checked on the third,
    /// for each of the three folds. The error on each cycle is mostly one bias, frozen in the first
    /// seconds (the rested start and the first pulses), so per cycle ±σ coverage is close to 0 or 1;
    /// what holds on every held-out cycle is ±2σ (measured 93–100 %, asserted ≥ 85 %) and a fitted
    /// offset of a few mV. The filter's own σ (white noise only) covers almost nothing.
    @Test func heldOutCalibrationCoversEachCycle() throws {
        let cycles = Self.cycles, scores = try Self.fractionalScores.get()
        let folds = ModelErrorCalibration.leaveOneOut(errors: scores.map(\.errors), budgets: scores.map(\.budgets))
        let foldsWithR0 = ModelErrorCalibration.leaveOneOut(errors: scores.map(\.errors), budgets: scores.map(\.budgets), fitResistance: true)
        var chiSquare = 0.0
        for (k, cycle) in cycles.enumerated() {
            let fit = folds[k], both = foldsWithR0[k]
            let held = scores[k].coverage(fit), heldBoth = scores[k].coverage(both)
            let sigmas = scores[k].budgets.map { $0.sigma(resistanceSigma: 0, ocvSigma: fit.ocvSigma) }.sorted()
            // Each cycle carries one bias (see below): its size in units of the held-out σ is one draw.
            let bias = scores[k].errors.reduce(0, +) / Double(scores[k].errors.count)
            let z = bias / sigmas[sigmas.count / 2]
            let ownSigmas = scores[k].budgets.map(\.filterSigma).sorted()
            chiSquare += z * z
            // The figures of BENCHMARKS.md.
            print("held out \(cycle): RMSE \(scores[k].rmse) max \(scores[k].maximum); ocvSigma \(fit.ocvSigma) V: "
                  + "median σ \(sigmas[sigmas.count / 2]), bias \(bias) = \(z) σ (\(bias / ownSigmas[ownSigmas.count / 2]) of the filter's own σ), ±σ \(held.sigma), ±2σ \(held.twoSigma); "
                  + "with R0: resistanceSigma \(both.resistanceSigma) Ω, ocvSigma \(both.ocvSigma) V: ±σ \(heldBoth.sigma), ±2σ \(heldBoth.twoSigma)")
            #expect((0.002...0.010).contains(fit.ocvSigma), "\(cycle) held out: fitted OCV offset \(fit.ocvSigma) V")
            #expect(held.twoSigma >= 0.85, "\(cycle) held out: ±2σ covers \(held.twoSigma)")
        }
        // A yardstick, not an exact test: three independent N(0, 1) draws give Σz² below 7.81 95 % of the time, but
        // these biases share one model error and each σ is fitted on the other two cycles. Measured 3.8; the
        // filter's own σ gives 36.
        #expect(chiSquare < 7.81, "Σ (bias/σ)² over the held-out cycles: \(chiSquare)")
        let pooled = ModelErrorCalibration(errors: scores.flatMap(\.errors), budgets: scores.flatMap(\.budgets), fitResistance: false)
        print("all three cycles: ocvSigma \(pooled.ocvSigma) V covers (±σ, ±2σ) \(scores.map { $0.coverage(pooled) })")
        let uncalibrated = ModelErrorCalibration(resistanceSigma: 0, ocvSigma: 0)
        for (cycle, score) in zip(cycles, scores) where cycle != "hwfet" {
            #expect(score.coverage(uncalibrated).twoSigma < 0.1, "\(cycle): the filter's own ±2σ covers \(score.coverage(uncalibrated).twoSigma)")
        }
    }

    /// Why per-cycle coverage cannot be nominal: the biases are systematic. One R0 error and one
    /// OCV-table offset, common to the three cycles, explain them through the filter's own signed
    /// sensitivities (least squares over all points): what is left is below 0.1 % RMS on every cycle
    /// (measured 0.03–0.08 %, against RMSEs of 0.03–0.28 %), with δR0 ≈ 9 mΩ (the drive cycles'
    /// 1 s resistance above the HPPC fit's R0) and δOCV ≈ 10 mV (the rested start 4.176–4.180 V
    /// against the table's 4.170 V at SOC 1). A zero-mean σ cannot know that these cancel on HWFET.
    @Test func biasesAreOneModelErrorCommonToAllCycles() throws {
        let cycles = Self.cycles, scores = try Self.fractionalScores.get()
        var a11 = 0.0, a12 = 0.0, a22 = 0.0, b1 = 0.0, b2 = 0.0
        for (e, budget) in scores.flatMap({ zip($0.errors, $0.budgets) }) {
            a11 += budget.perOhm * budget.perOhm; a12 += budget.perOhm * budget.perVolt; a22 += budget.perVolt * budget.perVolt
            b1 += budget.perOhm * e; b2 += budget.perVolt * e
        }
        let determinant = a11 * a22 - a12 * a12
        let deltaR = (a22 * b1 - a12 * b2) / determinant, deltaV = (a11 * b2 - a12 * b1) / determinant
        #expect((0.005...0.015).contains(deltaR) && (0.005...0.015).contains(deltaV), "δR0 \(deltaR) Ω, δOCV \(deltaV) V")
        for (cycle, score) in zip(cycles, scores) {
            let residual = zip(score.errors, score.budgets).map { e, b in e - b.perOhm * deltaR - b.perVolt * deltaV }
            let rms = (residual.map { $0 * $0 }.reduce(0, +) / Double(residual.count)).squareRoot()
            #expect(rms < 0.001, "\(cycle): \(rms) left of RMSE \(score.rmse)")
        }
    }

    /// The HPPC test is no calibration set for these model errors. Its log lacks the discharges
    /// between pulse sets; each is restored as one sample at the start of its gap whose held
    /// current carries the charge the tester's Ah counter (the reference SOC) saw across the gap.
    /// In the 20-minute rests the voltage settles on the discharge branch of the hysteresis, below
    /// the table, and the SOC follows it: the error grows as the cell empties (measured 15.5 %),
    /// while the sensitivity to a constant offset decays in the rests (the diffusion state takes it
    /// up). No plausible table offset explains that: the fit runs to its search bound, 1 V.
    @Test func hppcRestsAreNoCalibrationSet() throws {
        let model = try CellFile.load(Fixture.path("panasonic/cell_fractional.toml"))
        let recording = try Recording(contentsOf: Fixture.path("panasonic/hppc_25C.csv"))
        let reference = try CSVColumns(contentsOf: Fixture.path("panasonic/hppc_25C_soc.csv"), required: ["time_s", "soc"])["soc"]
        var observer = try SOCObserver(model: model, method: .foekf, initialSOC: 0.8)
        var score = Score(rmse: 0, maximum: 0)
        let gap = 600.0
        for n in recording.times.indices {
            let t = recording.times[n]
            if n > 0, t - recording.times[n - 1] > gap {
                let start = recording.times[n - 1] + 0.01
                let charge = (reference[n] - reference[n - 1]) * 3600 * model.capacityAh
                _ = observer.consume(time: start, current: charge / (t - start), voltage: recording.voltages[n - 1])
            }
            let estimate = observer.consume(time: t, current: recording.currents[n], voltage: recording.voltages[n])
            guard t >= 300 else { continue }
            score.errors.append(estimate.soc - reference[n])
            score.budgets.append(estimate.errorBudget)
            score.maximum = max(score.maximum, abs(estimate.soc - reference[n]))
        }
        let fit = ModelErrorCalibration(errors: score.errors, budgets: score.budgets, fitResistance: false)
        print("HPPC: max error \(score.maximum), last \(score.errors.last ?? .nan); fitted ocvSigma \(fit.ocvSigma) V")
        #expect(score.maximum > 0.1, "max error \(score.maximum)")
        #expect(fit.ocvSigma > 0.1, "ocvSigma \(fit.ocvSigma) V")
    }

    @Test func integerOrderObserverNeedsIntegerOrderModel() throws {
        let model = try CellFile.load(Fixture.path("panasonic/cell_fractional.toml"))
        #expect(throws: SOCObserver.Failure.modelNotIntegerOrder) { try SOCObserver(model: model, method: .ekf2rc) }
    }

    /// Identification of the integer-order model from the HPPC log reproduces the committed file's fit quality.
    @Test func identifiesRCModelFromHPPC() throws {
        let recording = try Recording(contentsOf: Fixture.path("panasonic/hppc_25C.csv"))
        let ocv = try OCVTable(contentsOf: Fixture.path("panasonic/ocv_25C.csv"))
        var options = PulseIdentification.Options()
        options.integerOrder = true
        let fit = try PulseIdentification(times: recording.times, currents: recording.currents, voltages: recording.voltages,
                                          ocv: ocv, capacityAh: 2.9973, options: options).fit()
        // The pulses' own voltage jumps give R0 between 21 and 32 mΩ over the SOC levels.
        #expect(fit.model.seriesResistance > 0.021 && fit.model.seriesResistance < 0.032, "R0 \(fit.model.seriesResistance)")
        #expect(fit.rmsResidual < 0.02, "rms residual \(fit.rmsResidual) V")
    }
}
