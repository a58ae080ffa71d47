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
