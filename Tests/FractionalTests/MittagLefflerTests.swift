import ComplexModule
import RealModule
import Foundation
import Testing
@testable import Fractional

@Suite struct MittagLefflerTests {
    /// High-precision values from scripts/fixtures/mittag_leffler_reference.py (mpmath).
    @Test func matchesHighPrecisionReference() throws {
        let rows = try Fixture.rows("mittag_leffler.csv")
        #expect(rows.count > 2000)
        var worst = 0.0
        var worstRow: [Double] = []
        for row in rows {
            let (alpha, beta) = (row[0], row[1])
            let z = Complex(row[2], row[3])
            let expected = Complex(row[4], row[5])
            let value = MittagLeffler.evaluate(z, alpha: alpha, beta: beta)
            // Relative to |E|, except near a zero of E where |E| ≪ 1: there relative to 1.
            let error = (value - expected).length / max(expected.length, 1e-3)
            if !(error <= worst) { worst = error; worstRow = row }
        }
        // Stated accuracy: 2e-13 relative over the whole fixture grid (|z| up to 1000, 0.1 ≤ α ≤ 1.9);
        // the largest errors are at E ≈ 1e138, where e^(z^(1/α)) itself carries that much rounding.
        #expect(worst < 2e-13, "worst relative error \(worst) at \(worstRow)")
    }

    @Test func exactIdentities() {
        // Error measure: |E - exact| / max(|exact|, 1e-3). The contour quadrature is accurate
        // relative to O(1); values far below 1 (e^z for z ≪ 0) keep an absolute error near 1e-17.
        func error(_ value: Double, _ exact: Double) -> Double { abs(value - exact) / max(abs(exact), 1e-3) }
        for x in stride(from: -30.0, through: 30.0, by: 0.37) {
            // E_{1,1}(z) = e^z, E_{1,2}(z) = (e^z - 1)/z, E_{2,1}(z²) = cosh z.
            #expect(error(MittagLeffler.evaluate(x, alpha: 1), exp(x)) < 1e-13, "x = \(x)")
            #expect(error(MittagLeffler.evaluate(x, alpha: 1, beta: 2), expm1(x) / x) < 1e-13, "x = \(x)")
            let c = x / 3
            #expect(error(MittagLeffler.evaluate(c * c, alpha: 2), cosh(c)) < 1e-13, "x = \(x)")
            // E_{1/2,1}(z) = e^{z²} erfc(-z), checked on |z| ≤ 5 where that product is accurate in double.
            if abs(x) <= 5 {
                #expect(error(MittagLeffler.evaluate(x, alpha: 0.5), exp(x * x) * erfc(-x)) < 1e-13, "x = \(x)")
            }
        }
    }

    @Test func complexArgumentIdentity() {
        // E_{1,1}(z) = e^z for complex z, including the oscillating directions.
        for (re, im) in [(1.0, 2.0), (-5.0, 7.0), (0.3, -0.2), (-20.0, 1.0), (3.0, 30.0)] {
            let z = Complex(re, im)
            let value = MittagLeffler.evaluate(z, alpha: 1)
            #expect((value - Complex.exp(z)).length / max(Complex.exp(z).length, 1e-3) < 1e-13)
        }
    }

    @Test func derivativeMatchesDifferenceQuotient() {
        for (alpha, beta) in [(0.5, 1.0), (2.0 / 3.0, 5.0 / 3.0), (0.9, 0.9)] {
            for z in [-50.0, -3.0, -0.5, -1e-4, 0.0, 0.4, 2.0] {
                let h = 1e-5 * max(1, abs(z))
                let quotient = (MittagLeffler.evaluate(z + h, alpha: alpha, beta: beta)
                    - MittagLeffler.evaluate(z - h, alpha: alpha, beta: beta)) / (2 * h)
                let d = MittagLeffler.derivative(z, alpha: alpha, beta: beta)
                // Central difference: O(h²) truncation ≈ 1e-10, rounding ≈ 1e-11.
                #expect(abs(d - quotient) <= 1e-8 * max(abs(d), 1e-3), "α=\(alpha) β=\(beta) z=\(z)")
            }
        }
    }

    /// The series method of the classical approach is fine for small |z| and useless past |z|^(1/α) ≈ 40.
    @Test func powerSeriesBreaksDownWhereInversionHolds() {
        let alpha = 1.0 / 6.0
        let small = -0.8
        #expect(abs(MittagLeffler.powerSeries(small, alpha: alpha, terms: 400) / MittagLeffler.evaluate(small, alpha: alpha) - 1) < 1e-12)
        let large = -2.5  // |z|^(1/α) = 244: series terms reach e^244
        let exact = MittagLeffler.evaluate(large, alpha: alpha)
        let series = MittagLeffler.powerSeries(large, alpha: alpha, terms: 400)
        #expect(!(abs(series / exact - 1) < 0.01), "series \(series) vs \(exact)")
    }
}

@Suite struct MittagLefflerDomainTests {
    @Test func outsideTheDomainGivesNaNNotACrash() {
        #expect(MittagLeffler.evaluate(1.0, alpha: 0).isNaN)
        #expect(MittagLeffler.evaluate(1.0, alpha: -1).isNaN)
        #expect(MittagLeffler.evaluate(1.0, alpha: 1e300).isNaN)
        #expect(MittagLeffler.evaluate(.nan, alpha: 0.5).isNaN)
        #expect(MittagLeffler.evaluate(Complex(1.0, 1.0), alpha: .infinity).real.isNaN)
    }
}

@Suite struct MittagLefflerTableTests {
    /// The tabulated evaluator at every real argument of the mpmath fixture grid (α 0.1…1.9, |z| ≤ 1000).
    @Test func matchesHighPrecisionReferenceOnTheRealLine() throws {
        let rows = try Fixture.rows("mittag_leffler.csv").filter { $0[3] == 0 }
        #expect(rows.count > 400)
        var tables: [[Double]: MittagLeffler.RealFunction] = [:]
        var worst = 0.0
        var worstRow: [Double] = []
        for row in rows {
            let key = [row[0], row[1]]
            let table = tables[key] ?? MittagLeffler.RealFunction(alpha: row[0], beta: row[1])
            tables[key] = table
            let error = abs(table(row[2]) - row[4]) / max(abs(row[4]), 1e-3)
            if !(error <= worst) { worst = error; worstRow = row }
        }
        // Stated: as accurate as the contour method except where |E| is huge (E ≈ e^w for w = z^(1/α) up to 690: e^w alone
        // carries w·1e-16 relative rounding), as for the contour method it is built from.
        let hugeValueRows = rows.filter { abs($0[4]) > 1e10 }
        var worstModerate = 0.0
        for row in rows where abs(row[4]) <= 1e10 {
            let table = tables[[row[0], row[1]]]
            let value = table.map { $0(row[2]) } ?? .nan
            worstModerate = max(worstModerate, abs(value - row[4]) / max(abs(row[4]), 1e-3))
        }
        // 6.7e-14 at α = 0.9, β = 0.5, z = -1, where the contour method it is built from has 4.7e-14.
        #expect(worstModerate < 1e-13, "worst relative error \(worstModerate) for |E| ≤ 1e10")
        #expect(worst < 5e-13, "worst relative error \(worst) at \(worstRow) (\(hugeValueRows.count) rows with |E| > 1e10)")
    }

    /// Between the fixture points: against the contour method at arguments that are
    /// not Chebyshev nodes (1428 per (α, β)), over the range the cell models use (α ≤ 1, z ≤ 0) and beyond.
    @Test func agreesWithContourMethodEverywhere() {
        for (alpha, beta) in [(0.633, 1.0), (0.633, 1.633), (0.5, 1.5), (0.9, 1.0), (1.0 / 6.0, 1.0), (1.0, 2.0), (1.5, 1.0)] {
            let table = MittagLeffler.RealFunction(alpha: alpha, beta: beta)
            // Tabulated on both sides (not falling back to the contour method, which this test compares with).
            #expect(table.pieceCounts.allSatisfy { $0 > 0 }, "α=\(alpha) β=\(beta): pieces \(table.pieceCounts)")
            var worstNegative = 0.0, worstPositive = 0.0
            for k in 0..<10_000 / 7 {
                // Log-uniform |z| from 1e-4 to 1e5 by a golden-ratio sequence, both signs
                // (positive only where E is finite).
                let u = (Double(k) * 0.618_033_988_749_894_9).truncatingRemainder(dividingBy: 1)
                let magnitude = pow(10, -4 + 9 * u)
                let z = k % 3 == 0 ? min(magnitude, pow(600, alpha)) : -magnitude
                let exact = MittagLeffler.evaluate(z, alpha: alpha, beta: beta)
                let error = abs(table(z) - exact) / max(abs(exact), 1e-3)
                if z < 0 { worstNegative = max(worstNegative, error) } else { worstPositive = max(worstPositive, error) }
            }
            // The models' range (α < 1, z < 0): 5e-14; the oscillating α ≥ 1 side: 5e-13.
            #expect(worstNegative < (alpha < 1 ? 5e-14 : 5e-13), "α=\(alpha) β=\(beta): worst \(worstNegative) for z < 0")
            // For z > 0 both carry the rounding of e^w, w = z^(1/α) up to 600: about w·1e-16 each.
            #expect(worstPositive < 1e-12, "α=\(alpha) β=\(beta): worst \(worstPositive) for z > 0")
        }
    }
}

@Suite struct PrabhakarTests {
    /// mpmath values of E^γ_{α,β}(z) (scripts/fixtures/mittag_leffler_reference.py prabhakar).
    @Test func matchesHighPrecisionReference() throws {
        let rows = try Fixture.rows("prabhakar.csv")
        #expect(rows.count > 2600)
        var worst = (ratio: 0.0, error: 0.0, row: [Double]())
        var missing: [[Double]] = []
        for row in rows {
            let (alpha, z) = (row[0], Complex(row[3], row[4]))
            let value = MittagLeffler.evaluate(z, alpha: alpha, beta: row[1], gamma: row[2])
            guard value.isFinite else { missing.append(row); continue }
            let expected = Complex(row[5], row[6])
            // Relative to |E|, except near a zero of E where |E| ≪ 1: there relative to 1.
            let error = (value - expected).length / max(expected.length, 1e-3)
            // Stated: 2e-14, plus where e^(s*) dominates (s*^α = z) its own rounding: the condition number
            // |z E'/E| is then about |s*|/α, so even exact arithmetic on the rounded s* gives ε·|s*|/α.
            // Where only the Hankel loop reaches (the oscillating directions απ/2 < |arg z| < απ, and
            // |Im s*| > 20, where a contour right of s* would carry e^(|Im s*|/2)): 5e-13 (measured 3.4e-13).
            let angle = abs(atan2(z.imaginary, z.real))
            let starImaginary = pow(z.length, 1 / alpha) * abs(sin(angle / alpha))
            let loopOnly = angle > alpha * .pi / 2 && angle < alpha * .pi || angle < alpha * .pi && starImaginary > 20
            let bound = (loopOnly ? 5e-13 : 2e-14) + 8 * Double.ulpOfOne * pow(z.length, 1 / alpha) / alpha
            if error / bound > worst.ratio { worst = (error / bound, error, row) }
        }
        #expect(worst.ratio <= 1, "error \(worst.error) = \(worst.ratio) × the bound at \(worst.row)")
        // NaN (no estimate within 1e-12) only away from the origin, and never on the negative real axis
        // (the models' range); see docs/fractional.md for where they are.
        for row in missing {
            let z = Complex(row[3], row[4])
            #expect(z.length >= 2, "NaN at \(row)")
            #expect(!(z.imaginary == 0 && z.real < 0), "NaN at \(row)")
        }
        #expect(missing.count <= 45, "\(missing.count) of \(rows.count) not evaluated")
    }

    @Test func exactIdentities() {
        func error(_ value: Complex<Double>, _ exact: Complex<Double>) -> Double { (value - exact).length / max(exact.length, 1e-3) }
        // Both half-planes, the positive real axis, and large |z| in the oscillating directions: all
        // inside the reach of evaluate(_:alpha:beta:gamma:).
        let arguments = [Complex(-40.0, 0), Complex(-3, 0.5), Complex(-0.2, 0), Complex(0.1, -0.1), Complex(-0.6, 0.5), Complex(-70, -20),
                         Complex(5, 0), Complex(20, 0), Complex(12, 4), Complex(3, -20), Complex(-10, 25)]
        for z in arguments {
            for (alpha, beta) in [(0.5, 1.0), (0.633, 1.633), (0.9, 0.5), (1.0, 2.0)] {
                let second = MittagLeffler.evaluate(z, alpha: alpha, beta: beta, gamma: 2)
                #expect(second.isFinite, "z=\(z) α=\(alpha) β=\(beta)")
                // γ = 2: E²_{α,β}(z) = (E_{α,β-α-1}(z) - (β-α-1) E_{α,β-α}(z)) / (α z), from Σ (k+1) z^k / Γ(αk+β).
                let viaDerivative = (MittagLeffler.evaluate(z, alpha: alpha, beta: beta - alpha - 1)
                    - Complex(beta - alpha - 1, 0) * MittagLeffler.evaluate(z, alpha: alpha, beta: beta - alpha)) / (Complex(alpha, 0) * z)
                #expect(error(second, viaDerivative) < 1e-12, "z=\(z) α=\(alpha) β=\(beta)")
                // Continuous in γ through γ = 1, where the two-parameter function takes over:
                // the γ-derivative is O(1) here, so 1e-7 apart means agreement to about 1e-7.
                let two = MittagLeffler.evaluate(z, alpha: alpha, beta: beta)
                #expect(error(MittagLeffler.evaluate(z, alpha: alpha, beta: beta, gamma: 1 + 1e-9), two) < 1e-7, "z=\(z) α=\(alpha) β=\(beta)")
            }
            // E^γ_{1,γ}(z) = e^z / Γ(γ), since (γ)_k / Γ(k + γ) = 1/Γ(γ).
            for gamma in [0.3, 1.7, 4.0] {
                let value = MittagLeffler.evaluate(z, alpha: 1, beta: gamma, gamma: gamma)
                let exact = Complex.exp(z) / Complex(tgamma(gamma), 0)
                // e^z alone carries |z|·ε relative rounding.
                #expect(error(value, exact) < 2e-14 * (1 + z.length), "z=\(z) γ=\(gamma)")
            }
        }
        // At 0: 1/Γ(β).
        #expect(abs(MittagLeffler.evaluate(0.0, alpha: 0.7, beta: 2.5, gamma: 0.4) - 1 / tgamma(2.5)) < 1e-16)
    }

    /// Kummer's transformation: `E^γ_{1,β}(z) = ₁F₁(γ; β; z)/Γ(β) = e^z E^{β-γ}_{1,β}(-z)`, which maps the
    /// positive half-plane (series, shifted contour) onto the negative one (contour left of the origin).
    @Test func kummerTransformation() {
        // (Real arguments are left out: for α = 1 on the negative axis evaluate(_:alpha:beta:gamma:) uses this identity.)
        for z in [Complex(10.0, 10), Complex(25, -5), Complex(2, 9), Complex(-6, 28), Complex(30, 1)] {
            for (beta, gamma) in [(2.0, 0.5), (3.5, 1.7), (4.0, 3.0), (2.5, 1.5)] {
                let value = MittagLeffler.evaluate(z, alpha: 1, beta: beta, gamma: gamma)
                let mirrored = Complex.exp(z) * MittagLeffler.evaluate(-z, alpha: 1, beta: beta, gamma: beta - gamma)
                // e^z alone carries |z|·ε relative rounding.
                let bound = 2e-14 * (1 + z.length)
                #expect((value - mirrored).length <= bound * max(value.length, 1e-3), "z=\(z) β=\(beta) γ=\(gamma): \(value) vs \(mirrored)")
            }
        }
    }

    /// `αγ E^{γ+1}_{α,β}(z) = E^γ_{α,β-1}(z) + (1 - β + αγ) E^γ_{α,β}(z)` (adjacent γ and β), from the series
    /// term by term; it links values that different methods compute.
    @Test func recurrenceInGammaAndBeta() {
        for (alpha, beta, gamma) in [(0.633, 1.2, 0.7), (0.5, 1.5, 1.7), (0.9, 1.0, 0.5), (0.8, 0.3, 2.2)] {
            for z in [Complex(3.0, 0), Complex(20, 0), Complex(8, 3), Complex(-10, 15), Complex(2, -25), Complex(-50, 0), Complex(-4, -1)] {
                let upper = Complex(alpha * gamma, 0) * MittagLeffler.evaluate(z, alpha: alpha, beta: beta, gamma: gamma + 1)
                let lowerBeta = MittagLeffler.evaluate(z, alpha: alpha, beta: beta - 1, gamma: gamma)
                let same = Complex(1 - beta + alpha * gamma, 0) * MittagLeffler.evaluate(z, alpha: alpha, beta: beta, gamma: gamma)
                #expect(upper.isFinite && lowerBeta.isFinite && same.isFinite, "α=\(alpha) β=\(beta) γ=\(gamma) z=\(z)")
                // Relative to the sizes of the three terms, each accurate to its own tolerance.
                let scale = upper.length + lowerBeta.length + same.length
                #expect((upper - lowerBeta - same).length <= 1e-13 * scale, "α=\(alpha) β=\(beta) γ=\(gamma) z=\(z)")
            }
        }
    }

    /// The same recurrence at 400 scattered parameters and arguments (|z| from 0.1 to 200, every
    /// direction): wherever all three values are numbers they must agree to their tolerance,
    /// so that no method returns a wrong number anywhere, not only on the fixture grid.
    @Test func recurrenceHoldsWhereverValuesAreReturned() {
        var checked = 0
        for k in 0..<400 {
            // Low-discrepancy samples (fractional parts of multiples of irrational numbers).
            func sample(_ step: Double) -> Double { (Double(k) * step).truncatingRemainder(dividingBy: 1) }
            let alpha = 0.3 + 0.7 * sample(0.618_033_988_749_895), beta = 0.2 + 2 * sample(0.414_213_562_373_095)
            let gamma = 0.3 + 2.5 * sample(0.732_050_807_568_877)
            let z = Complex(length: pow(10, -1 + 2.3 * sample(0.236_067_977_499_790)), phase: .pi * (2 * sample(0.645_751_311_064_591) - 1))
            let upper = Complex(alpha * gamma, 0) * MittagLeffler.evaluate(z, alpha: alpha, beta: beta, gamma: gamma + 1)
            let lowerBeta = MittagLeffler.evaluate(z, alpha: alpha, beta: beta - 1, gamma: gamma)
            let same = Complex(1 - beta + alpha * gamma, 0) * MittagLeffler.evaluate(z, alpha: alpha, beta: beta, gamma: gamma)
            guard upper.isFinite, lowerBeta.isFinite, same.isFinite else { continue }
            checked += 1
            // Each value within its 1e-12 tolerance (relative to max(|E|, 1e-3)), with a margin for the estimate.
            let scale = max(upper.length, 1e-3) + max(lowerBeta.length, 1e-3) + max(same.length, 1e-3)
            #expect((upper - lowerBeta - same).length <= 3e-12 * scale, "α=\(alpha) β=\(beta) γ=\(gamma) z=\(z)")
        }
        // 371 of 400 measured; the rest have a NaN among the three.
        #expect(checked >= 350, "\(checked) of 400 with all three values")
    }

    /// As α → 0, `E^γ_{α,β}(z) → Σ (γ)_k z^k / (k! Γ(β)) = (1 - z)^(-γ) / Γ(β)` for |z| < 1; the
    /// difference is O(α) (from Γ(αk + β) ≈ Γ(β)(1 + αkψ(β))), 1e-8 relative here.
    @Test func vanishingAlphaGivesBinomialSeries() {
        for z in [Complex(0.5, 0), Complex(-0.8, 0.3)] {
            let value = MittagLeffler.evaluate(z, alpha: 1e-9, beta: 1.5, gamma: 1.7)
            let limit = Complex.pow(Complex(1, 0) - z, Complex(-1.7, 0)) / Complex(tgamma(1.5), 0)
            #expect((value - limit).length <= 1e-7 * limit.length, "z=\(z): \(value) vs \(limit)")
        }
    }

    @Test func outsideTheDomainGivesNaN() {
        #expect(MittagLeffler.evaluate(1.0, alpha: 1.5, beta: 1, gamma: 2).isNaN)
        #expect(MittagLeffler.evaluate(1.0, alpha: 0.5, beta: 1, gamma: -1).isNaN)
        #expect(MittagLeffler.evaluate(1.0, alpha: 0.5, beta: .nan, gamma: 2).isNaN)
        #expect(MittagLeffler.evaluate(Complex(.infinity, 0), alpha: 0.5, beta: 1, gamma: 2).real.isNaN)
    }
}
