import Foundation
import BenchCore
import Testing
@testable import Fractional

/// `ModelErrorCalibration` recovers known model-error sizes from errors drawn with them.
@Suite struct CalibrationTests {
    /// Independent Gaussian errors with σ² = f² + (perOhm·σ_R)² + (perVolt·σ_V)², sensitivities varying per point.
    static func draw(count: Int, resistanceSigma: Double, ocvSigma: Double, seed: UInt64) -> ([Double], [SOCErrorBudget]) {
        var random = SplitMix64(seed: seed)
        var errors: [Double] = [], budgets: [SOCErrorBudget] = []
        for _ in 0..<count {
            let budget = SOCErrorBudget(filterSigma: 5e-4, perOhm: 0.1 + 0.9 * random.uniform(), perVolt: 0.2 + 0.3 * random.uniform())
            errors.append(budget.sigma(resistanceSigma: resistanceSigma, ocvSigma: ocvSigma) * random.gaussian())
            budgets.append(budget)
        }
        return (errors, budgets)
    }

    /// 20 000 independent points: the relative standard error of a fitted σ is about 1 %
    /// (alone) to a few % (two σ's whose sensitivities overlap); tolerance 10 %.
    @Test func recoversKnownSizes() {
        let (errors, budgets) = Self.draw(count: 20_000, resistanceSigma: 0, ocvSigma: 0.006, seed: 11)
        let alone = ModelErrorCalibration(errors: errors, budgets: budgets, fitResistance: false)
        #expect(abs(alone.ocvSigma / 0.006 - 1) < 0.1, "ocvSigma \(alone.ocvSigma)")
        #expect(alone.resistanceSigma == 0)

        let (mixed, mixedBudgets) = Self.draw(count: 20_000, resistanceSigma: 0.004, ocvSigma: 0.006, seed: 12)
        let both = ModelErrorCalibration(errors: mixed, budgets: mixedBudgets)
        #expect(abs(both.resistanceSigma / 0.004 - 1) < 0.1, "resistanceSigma \(both.resistanceSigma)")
        #expect(abs(both.ocvSigma / 0.006 - 1) < 0.1, "ocvSigma \(both.ocvSigma)")
        // The fitted σ covers the points it was fitted on as a Gaussian σ should: 68 % / 95 % within ±2 points.
        let coverage = both.coverage(errors: mixed, budgets: mixedBudgets)
        #expect(abs(coverage.sigma - 0.683) < 0.02 && abs(coverage.twoSigma - 0.954) < 0.02, "\(coverage)")
    }

    /// Errors the filter's own σ already explains leave nothing to the model errors.
    @Test func whiteErrorsNeedNoModelError() {
        let (errors, budgets) = Self.draw(count: 5_000, resistanceSigma: 0, ocvSigma: 0, seed: 13)
        let fit = ModelErrorCalibration(errors: errors, budgets: budgets)
        // Any size the noise leaves is far below the 6 mV scale above: its σ share stays under 1e-4.
        let share = budgets.map { $0.sigma(resistanceSigma: fit.resistanceSigma, ocvSigma: fit.ocvSigma) - $0.filterSigma }.max() ?? 1
        #expect(share < 1e-4, "resistanceSigma \(fit.resistanceSigma), ocvSigma \(fit.ocvSigma)")
    }

    /// Leave-one-out: each group's calibration is the one fitted on the others.
    @Test func leaveOneOutFitsTheOtherGroups() {
        let groups = [(0.003, 14 as UInt64), (0.006, 15), (0.009, 16)].map { Self.draw(count: 5_000, resistanceSigma: 0, ocvSigma: $0.0, seed: $0.1) }
        let folds = ModelErrorCalibration.leaveOneOut(errors: groups.map(\.0), budgets: groups.map(\.1))
        for held in groups.indices {
            let others = groups.indices.filter { $0 != held }
            let direct = ModelErrorCalibration(errors: others.flatMap { groups[$0].0 }, budgets: others.flatMap { groups[$0].1 },
                                               fitResistance: false)
            #expect(folds[held] == direct)
        }
        // Fitted without the 9 mV group the first fold's σ lies below the one fitted without the 3 mV group.
        #expect(folds[2].ocvSigma < folds[0].ocvSigma)
    }
}
