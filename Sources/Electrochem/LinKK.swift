import Numerics

public struct LinKKOptions: Sendable, Codable, Hashable {
    /// Stop adding RC elements once μ falls below this (Schönleber et al.: 0.85).
    public var c: Double
    public var maxElements: Int
    /// Fit a series capacitor with the inductance (impedance.py's `add_cap`), so spectra without a
    /// low-frequency intercept are judged fairly. M and μ do not depend on it.
    public var seriesCapacitor: Bool
    /// Largest relative residual |ΔZ|/|Z| (real or imaginary) of a valid spectrum.
    public var residualLimit: Double

    public init(c: Double = 0.85, maxElements: Int = 50, seriesCapacitor: Bool = true, residualLimit: Double = 0.01) {
        self.c = c
        self.maxElements = maxElements
        self.seriesCapacitor = seriesCapacitor
        self.residualLimit = residualLimit
    }
}

public struct LinKKResult: Sendable, Codable, Hashable {
    public enum Verdict: String, Sendable, Codable { case valid, invalid }
    /// Number of RC elements M.
    public var elementCount: Int
    /// μ = 1 − Σ|R_k<0| / Σ|R_k≥0|.
    public var mu: Double
    public var seriesResistance: Double
    public var inductance: Double
    /// Series capacitance, F (nil when not fitted or not needed).
    public var capacitance: Double?
    /// (data − fit)/|Z| per point, real and imaginary, in the spectrum's order.
    public var residuals: [FitResidual]
    public var maxResidual: Double
    public var verdict: Verdict
    /// Why the verdict is what it is, in words.
    public var reason: String
}

extension Spectrum {
    /// Lin-KK test (Schönleber et al., Electrochim. Acta 131 (2014) 20) as impedance.py's `linKK`
    /// with `fit_type='real'`: R_ohm plus M RC elements with log-spaced fixed time constants
    /// from 1/ω_max to 1/ω_min, fitted to Re Z/|Z| by linear least squares; M grows from 1
    /// until μ < c; then the inductance (and series capacitance) are fitted to the rest of Im Z.
    public func linKK(_ options: LinKKOptions = LinKKOptions()) throws(FitFailure) -> LinKKResult {
        if let problem = validated() { throw FitFailure(reason: problem) }
        guard count >= 4 else { throw FitFailure(reason: "Lin-KK needs at least 4 points; the spectrum has \(count)") }
        let omega = frequencies.map { 2 * Double.pi * $0 }
        let modulus = impedance.map(\.length)
        guard modulus.allSatisfy({ $0 > 0 }) else { throw FitFailure(reason: "a point has |Z| = 0") }
        // Keep the real fit overdetermined: M + 1 unknowns from N equations.
        let limit = max(1, min(options.maxElements, count - 2))
        var m = 0
        var mu = 1.0
        var solution: (tau: [Double], r: [Double])?
        repeat {
            m += 1
            let tau = Self.timeConstants(omegaMin: omega.min() ?? 1, omegaMax: omega.max() ?? 1, count: m)
            guard let r = realFit(omega: omega, modulus: modulus, tau: tau) else {
                throw FitFailure(reason: "the Lin-KK least-squares problem is singular at M = \(m)")
            }
            mu = Self.mu(r.dropFirst())
            solution = (tau, r)
        } while m < limit && mu > options.c
        guard let (tau, r) = solution else { throw FitFailure(reason: "no Lin-KK fit was made") }

        // Fit ω L (and −1/(ω C)) to what the RC elements leave of Im Z, weighted by 1/|Z|.
        var partial = [Complex<Double>](repeating: .zero, count: count)
        for k in 0..<count {
            var z = Complex<Double>(r[0])
            for (rk, t) in zip(r.dropFirst(), tau) { z += Complex(rk) / Complex(1, omega[k] * t) }
            partial[k] = z
        }
        let columns = options.seriesCapacitor ? 2 : 1
        var matrix: [Double] = []
        var rhs: [Double] = []
        for k in 0..<count {
            matrix.append(omega[k] / modulus[k])
            if options.seriesCapacitor { matrix.append(-1 / (omega[k] * modulus[k])) }
            rhs.append((impedance[k].imaginary - partial[k].imaginary) / modulus[k])
        }
        guard let reactive = LinearAlgebra.leastSquares(matrix, rows: count, columns: columns, rhs) else {
            throw FitFailure(reason: "the Lin-KK inductance fit is singular")
        }
        let inductance = reactive[0]
        let inverseCapacitance = options.seriesCapacitor ? reactive[1] : 0

        var residuals: [FitResidual] = []
        var largest = 0.0
        for k in 0..<count {
            let model = partial[k] + Complex(0, omega[k] * inductance - inverseCapacitance / omega[k])
            let d = (impedance[k] - model) / Complex(modulus[k])
            residuals.append(FitResidual(frequency: frequencies[k], real: d.real, imag: d.imaginary))
            largest = max(largest, abs(d.real), abs(d.imaginary))
        }
        let valid = largest <= options.residualLimit
        let reason = valid
            ? "residuals within \(fixed(options.residualLimit * 100, 2))% of |Z| (largest \(fixed(largest * 100, 3))%) with M = \(m), μ = \(fixed(mu, 3))"
            : "largest residual \(fixed(largest * 100, 3))% of |Z| exceeds \(fixed(options.residualLimit * 100, 2))%: not Kramers–Kronig consistent (drift, non-linearity or noise), M = \(m), μ = \(fixed(mu, 3))"
        return LinKKResult(elementCount: m, mu: mu, seriesResistance: r[0], inductance: inductance,
                           capacitance: inverseCapacitance == 0 ? nil : 1 / inverseCapacitance,
                           residuals: residuals, maxResidual: largest, verdict: valid ? .valid : .invalid, reason: reason)
    }

    /// Fits R_ohm and the R_k to Re Z/|Z|.
    private func realFit(omega: [Double], modulus: [Double], tau: [Double]) -> [Double]? {
        let columns = tau.count + 1
        var matrix = [Double](repeating: 0, count: count * columns)
        var rhs = [Double](repeating: 0, count: count)
        for k in 0..<count {
            matrix[k * columns] = 1 / modulus[k]
            for (i, t) in tau.enumerated() {
                let wt = omega[k] * t
                matrix[k * columns + i + 1] = 1 / ((1 + wt * wt) * modulus[k])
            }
            rhs[k] = impedance[k].real / modulus[k]
        }
        return LinearAlgebra.leastSquares(matrix, rows: count, columns: columns, rhs)
    }

    /// impedance.py's distribution: τ_1 = 1/ω_max, τ_M = 1/ω_min, log-spaced between
    /// (a single element takes τ = 1/ω_min).
    static func timeConstants(omegaMin: Double, omegaMax: Double, count m: Int) -> [Double] {
        let tMin = 1 / omegaMax, tMax = 1 / omegaMin
        if m == 1 { return [tMax] }
        return (0..<m).map { k in
            Double.pow(10, Double.log10(tMin) + Double(k) / Double(m - 1) * Double.log10(tMax / tMin))
        }
    }

    static func mu<C: Collection<Double>>(_ resistances: C) -> Double {
        let negative = resistances.filter { $0 < 0 }.reduce(0) { $0 + abs($1) }
        let positive = resistances.filter { $0 >= 0 }.reduce(0, +)
        return 1 - negative / positive
    }
}
