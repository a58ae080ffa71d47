import Numerics

/// Which part of the spectrum the RC elements are fitted to (impedance.py's `fit_type`).
public enum LinKKMode: String, Sendable, Codable, Hashable, CaseIterable {
    /// R_ohm and the R_k to Re Z; then the inductance (and capacitance) to the rest of Im Z.
    case real
    /// The R_k, inductance (and capacitance) to Im Z; then R_ohm to the rest of Re Z, weighted
    /// by 1/|Z|² (Boukamp, J. Electrochem. Soc. 142 (1995) 1885, eq. 7).
    case imag
    /// Everything to Re Z and Im Z together (Schönleber et al., eq. 14).
    case complex
}

public struct LinKKOptions: Sendable, Codable, Hashable {
    /// Stop adding RC elements once μ falls below this (Schönleber et al.: 0.85).
    public var c: Double
    public var maxElements: Int
    /// Fit a series capacitor with the inductance (impedance.py's `add_cap`), so spectra without a
    /// low-frequency intercept are judged fairly. In the real mode M and μ do not depend on it.
    public var seriesCapacitor: Bool
    /// Largest relative residual |ΔZ|/|Z| (real or imaginary) of a valid spectrum.
    public var residualLimit: Double
    public var mode: LinKKMode

    public init(c: Double = 0.85, maxElements: Int = 50, seriesCapacitor: Bool = true, residualLimit: Double = 0.01,
                mode: LinKKMode = .real) {
        self.c = c
        self.maxElements = maxElements
        self.seriesCapacitor = seriesCapacitor
        self.residualLimit = residualLimit
        self.mode = mode
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
    /// Lin-KK test (Schönleber et al., Electrochim. Acta 131 (2014) 20) as impedance.py's `linKK`:
    /// R_ohm, M RC elements with log-spaced fixed time constants from 1/ω_max to 1/ω_min, a
    /// series inductance and optionally a series capacitance, fitted by linear least squares to
    /// Z/|Z| in the part `options.mode` selects. M grows from 1 until μ < c.
    public func linKK(_ options: LinKKOptions = LinKKOptions()) throws(FitFailure) -> LinKKResult {
        if let problem = validated() { throw FitFailure(reason: problem) }
        guard count >= 4 else { throw FitFailure(reason: "Lin-KK needs at least 4 points; the spectrum has \(count)") }
        let omega = frequencies.map { 2 * Double.pi * $0 }
        let modulus = impedance.map(\.length)
        guard modulus.allSatisfy({ $0 > 0 }) else { throw FitFailure(reason: "a point has |Z| = 0") }
        // Keep each fit overdetermined: at most M + 2 unknowns from N equations.
        let limit = max(1, min(options.maxElements, count - 2))
        var m = 0
        var mu = 1.0
        var solution: LinKKModel?
        repeat {
            m += 1
            let tau = Self.timeConstants(omegaMin: omega.min() ?? 1, omegaMax: omega.max() ?? 1, count: m)
            let model = LinKKModel(spectrum: self, omega: omega, modulus: modulus, tau: tau, seriesCapacitor: options.seriesCapacitor)
            guard let fitted = model.fitted(options.mode) else {
                throw FitFailure(reason: "the Lin-KK least-squares problem is singular at M = \(m)")
            }
            mu = Self.mu(fitted.resistances)
            solution = fitted
        } while m < limit && mu > options.c
        guard let solution else { throw FitFailure(reason: "no Lin-KK fit was made") }

        var residuals: [FitResidual] = []
        var largest = 0.0
        for k in 0..<count {
            let d = solution.residual(k)
            residuals.append(FitResidual(frequency: frequencies[k], real: d.real, imag: d.imaginary))
            largest = max(largest, abs(d.real), abs(d.imaginary))
        }
        let valid = largest <= options.residualLimit
        let reason = valid
            ? "residuals within \(fixed(options.residualLimit * 100, 2))% of |Z| (largest \(fixed(largest * 100, 3))%) with M = \(m), μ = \(fixed(mu, 3))"
            : "largest residual \(fixed(largest * 100, 3))% of |Z| exceeds \(fixed(options.residualLimit * 100, 2))%: not Kramers–Kronig consistent (drift, non-linearity or noise), M = \(m), μ = \(fixed(mu, 3))"
        let inverseCapacitance = solution.coefficients[solution.inverseCapacitanceColumn]
        return LinKKResult(elementCount: m, mu: mu, seriesResistance: solution.coefficients[0],
                           inductance: solution.coefficients[solution.inductanceColumn],
                           capacitance: inverseCapacitance == 0 ? nil : 1 / inverseCapacitance,
                           residuals: residuals, maxResidual: largest, verdict: valid ? .valid : .invalid, reason: reason)
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

/// The linear Lin-KK model for one M: coefficients [R_ohm, R_1…R_M, L, 1/C] and, for each
/// point, the real and imaginary part of each coefficient's contribution divided by |Z|, so that
/// the least-squares problems are in Z/|Z| as impedance.py sets them up.
private struct LinKKModel {
    let width: Int
    let inductanceColumn: Int
    let inverseCapacitanceColumn: Int
    /// Columns fitted to Im Z beside the R_k: L, and 1/C when a series capacitor is wanted.
    let reactiveColumns: [Int]
    /// Row-major, one row per point.
    let real: [Double]
    let imag: [Double]
    let dataReal: [Double]
    let dataImag: [Double]
    let modulus: [Double]
    var coefficients: [Double]

    init(spectrum: Spectrum, omega: [Double], modulus: [Double], tau: [Double], seriesCapacitor: Bool) {
        let m = tau.count
        width = m + 3
        inductanceColumn = m + 1
        inverseCapacitanceColumn = m + 2
        reactiveColumns = seriesCapacitor ? [m + 1, m + 2] : [m + 1]
        let n = spectrum.count
        var real = [Double](repeating: 0, count: n * width)
        var imag = real
        for k in 0..<n {
            let row = k * width
            real[row] = 1 / modulus[k]
            for (i, t) in tau.enumerated() {
                // R/(1 + jωτ) = R (1 − jωτ)/(1 + (ωτ)²)
                let wt = omega[k] * t
                let d = (1 + wt * wt) * modulus[k]
                real[row + 1 + i] = 1 / d
                imag[row + 1 + i] = -wt / d
            }
            imag[row + inductanceColumn] = omega[k] / modulus[k]
            imag[row + inverseCapacitanceColumn] = -1 / (omega[k] * modulus[k])
        }
        self.real = real
        self.imag = imag
        dataReal = (0..<n).map { spectrum.impedance[$0].real / modulus[$0] }
        dataImag = (0..<n).map { spectrum.impedance[$0].imaginary / modulus[$0] }
        self.modulus = modulus
        coefficients = [Double](repeating: 0, count: width)
    }

    var resistances: ArraySlice<Double> { coefficients[1..<inductanceColumn] }

    /// (data − model)/|Z| at point k with the current coefficients.
    func residual(_ k: Int) -> Complex<Double> {
        var re = dataReal[k], im = dataImag[k]
        for c in 0..<width {
            re -= real[k * width + c] * coefficients[c]
            im -= imag[k * width + c] * coefficients[c]
        }
        return Complex(re, im)
    }

    /// The model fitted as `mode` says, or nil when a least-squares problem is singular.
    func fitted(_ mode: LinKKMode) -> LinKKModel? {
        var model = self
        let rcColumns = Array(1..<inductanceColumn)
        let n = modulus.count
        switch mode {
        case .real:
            guard model.solve([(real, dataReal)], columns: [0] + rcColumns) else { return nil }
            // The reactive elements take what the RC elements leave of Im Z.
            let rest = (0..<n).map { k in dataImag[k] - rcColumns.reduce(0) { $0 + imag[k * width + $1] * model.coefficients[$1] } }
            guard model.solve([(imag, rest)], columns: reactiveColumns) else { return nil }
        case .imag:
            guard model.solve([(imag, dataImag)], columns: rcColumns + reactiveColumns) else { return nil }
            // R_ohm from what the RC elements leave of Re Z, weighted by 1/|Z|² (Boukamp's eq. 7).
            var weighted = 0.0, weights = 0.0
            for k in 0..<n {
                let w = 1 / (modulus[k] * modulus[k])
                let rc = rcColumns.reduce(0) { $0 + real[k * width + $1] * model.coefficients[$1] } * modulus[k]
                weighted += w * (dataReal[k] * modulus[k] - rc)
                weights += w
            }
            model.coefficients[0] = weighted / weights
        case .complex:
            guard model.solve([(real, dataReal), (imag, dataImag)], columns: [0] + rcColumns + reactiveColumns) else { return nil }
        }
        return model
    }

    /// Least squares over the given columns, with the rows of every (matrix, data) part stacked;
    /// the solution replaces those coefficients.
    private mutating func solve(_ parts: [(matrix: [Double], data: [Double])], columns: [Int]) -> Bool {
        var a: [Double] = []
        var b: [Double] = []
        for part in parts {
            for k in part.data.indices {
                for c in columns { a.append(part.matrix[k * width + c]) }
                b.append(part.data[k])
            }
        }
        guard let x = LinearAlgebra.leastSquares(a, rows: b.count, columns: columns.count, b) else { return false }
        for (j, c) in columns.enumerated() { coefficients[c] = x[j] }
        return true
    }
}
