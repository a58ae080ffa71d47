import Foundation

/// Sizes of the considered model errors (`SOCErrorBudget`) fitted to observed SOC errors.
///
/// Maximum likelihood under the budget's Gaussian model: the σ's minimise the mean of
/// `e²/σ² + ln σ²` over the samples, with `σ² = filterSigma² + (perOhm·resistanceSigma)² + (perVolt·ocvSigma)²`.
/// Fit on data that the evaluation does not use (another recording of the cell, another cycle).
public struct ModelErrorCalibration: Sendable, Hashable {
    /// R0 error, Ω.
    public var resistanceSigma: Double
    /// OCV-table offset, V.
    public var ocvSigma: Double

    public init(resistanceSigma: Double, ocvSigma: Double) {
        self.resistanceSigma = resistanceSigma
        self.ocvSigma = ocvSigma
    }

    /// Searched range of each σ (Ω or V); 0 is also tried.
    static let range = (lower: 1e-6, upper: 1.0)

    /// - Parameters:
    ///   - errors: estimated minus true SOC, one per sample.
    ///   - budgets: the filter's budget for the same samples (estimates do not depend on the σ's fitted here).
    ///   - fitResistance: false fits the OCV offset alone (resistanceSigma stays 0).
    public init(errors: [Double], budgets: [SOCErrorBudget], fitResistance: Bool = true) {
        precondition(errors.count == budgets.count && !errors.isEmpty, "one budget per error, at least one")
        func cost(_ resistance: Double, _ ocv: Double) -> Double {
            var sum = 0.0
            for (e, budget) in zip(errors, budgets) {
                let sigma = budget.sigma(resistanceSigma: resistance, ocvSigma: ocv)
                let variance = max(sigma * sigma, .leastNormalMagnitude)
                sum += e * e / variance + log(variance)
            }
            return sum / Double(errors.count)
        }
        var resistance = 0.0, ocv = 0.0
        // Coordinate descent: each σ in turn minimised with the other held (the cost is smooth and,
        // in each variance alone, has one minimum).
        for _ in 0..<(fitResistance ? 4 : 1) {
            ocv = Self.minimize { cost(resistance, $0) }
            if fitResistance { resistance = Self.minimize { cost($0, ocv) } }
        }
        resistanceSigma = resistance
        ocvSigma = ocv
    }

    /// For each group of points (e.g. one recording), the calibration fitted on all the other groups.
    public static func leaveOneOut(errors: [[Double]], budgets: [[SOCErrorBudget]], fitResistance: Bool = false) -> [ModelErrorCalibration] {
        errors.indices.map { held in
            let others = errors.indices.filter { $0 != held }
            return ModelErrorCalibration(errors: others.flatMap { errors[$0] }, budgets: others.flatMap { budgets[$0] },
                                         fitResistance: fitResistance)
        }
    }

    /// Fractions of the errors within ±σ and ±2σ, σ from each point's budget with these sizes.
    public func coverage(errors: [Double], budgets: [SOCErrorBudget]) -> (sigma: Double, twoSigma: Double) {
        var within = 0.0, withinTwo = 0.0
        for (error, budget) in zip(errors, budgets) {
            let sigma = budget.sigma(resistanceSigma: resistanceSigma, ocvSigma: ocvSigma)
            if abs(error) <= sigma { within += 1 }
            if abs(error) <= 2 * sigma { withinTwo += 1 }
        }
        return (within / Double(max(errors.count, 1)), withinTwo / Double(max(errors.count, 1)))
    }

    /// The minimiser of `f` over {0} ∪ [lower, upper]: a scan of 49 points evenly spaced in ln σ
    /// (the cost can have more than one minimum when the sensitivities differ widely between
    /// points), then golden-section search in ln σ between the best point's neighbours.
    static func minimize(_ f: (Double) -> Double) -> Double {
        let lower = log(range.lower), upper = log(range.upper), count = 49
        let grid = (0..<count).map { lower + (upper - lower) * Double($0) / Double(count - 1) }
        let values = grid.map { f(exp($0)) }
        let best = values.indices.min { values[$0] < values[$1] } ?? 0
        var a = grid[max(best - 1, 0)], b = grid[min(best + 1, count - 1)]
        let ratio = (5.0.squareRoot() - 1) / 2
        var c = b - ratio * (b - a), d = a + ratio * (b - a)
        var fc = f(exp(c)), fd = f(exp(d))
        while b - a > 1e-4 {
            if fc < fd {
                b = d; d = c; fd = fc
                c = b - ratio * (b - a); fc = f(exp(c))
            } else {
                a = c; c = d; fc = fd
                d = a + ratio * (b - a); fd = f(exp(d))
            }
        }
        let refined = exp((a + b) / 2), refinedValue = f(refined)
        return f(0) <= min(refinedValue, values[best]) ? 0 : (refinedValue <= values[best] ? refined : exp(grid[best]))
    }
}
