import Numerics

/// Bounded Levenberg–Marquardt for one circuit and one spectrum.
///
/// Bounds are enforced by smooth transforms of each free parameter (exp for one-sided,
/// logistic for two-sided bounds), so the solver itself is unconstrained. Damping follows
/// Nielsen's update with Marquardt's diagonal scaling. Buffers are allocated once per problem.
struct LevenbergMarquardt {
    struct Outcome {
        var parameters: [Double]
        var cost: Double
        var iterations: Int
        var converged: Bool
    }

    static let maxStep = 2.0
    let circuit: Circuit
    let weighting: Weighting
    let frequencies: [Double]
    let data: [Complex<Double>]
    /// σ of the real and imaginary residual of each point, interleaved.
    let sigma: [Double]
    let free: [Int]
    let bounds: [ClosedRange<Double>]
    private var workspace: Circuit.Workspace
    private var model: [Complex<Double>]
    private var jacobian: [Complex<Double>]
    private var residual: [Double]

    init(circuit: Circuit, spectrum: Spectrum, weighting: Weighting, free: [Int], bounds: [ClosedRange<Double>]) {
        self.circuit = circuit
        self.weighting = weighting
        self.frequencies = spectrum.frequencies
        self.data = spectrum.impedance
        self.free = free
        self.bounds = bounds
        var sigma: [Double] = []
        sigma.reserveCapacity(2 * spectrum.count)
        let spread = RescaledResidual.spreads(spectrum.impedance)
        for z in spectrum.impedance {
            let modulus = z.length > 0 ? z.length : 1
            switch weighting {
            case .unit: sigma += [1, 1]
            case .modulus: sigma += [modulus, modulus]
            case .proportional:
                sigma += [z.real != 0 ? abs(z.real) : modulus, z.imaginary != 0 ? abs(z.imaginary) : modulus]
            case .spread: sigma += [spread.real, spread.imag]
            }
        }
        self.sigma = sigma
        workspace = Circuit.Workspace(for: circuit)
        model = Array(repeating: .zero, count: spectrum.count)
        jacobian = Array(repeating: .zero, count: spectrum.count * circuit.parameterCount)
        residual = Array(repeating: 0, count: 2 * spectrum.count)
    }

    // MARK: transforms between a bounded parameter and its unconstrained counterpart

    static func natural(_ u: Double, _ b: ClosedRange<Double>) -> (value: Double, slope: Double) {
        switch (b.lowerBound.isFinite, b.upperBound.isFinite) {
        case (true, true):
            let s = 1 / (1 + Double.exp(-u))
            let width = b.upperBound - b.lowerBound
            return (b.lowerBound + width * s, width * s * (1 - s))
        case (true, false):
            let e = Double.exp(u)
            return (b.lowerBound + e, e)
        case (false, true):
            let e = Double.exp(u)
            return (b.upperBound - e, -e)
        case (false, false):
            return (u, 1)
        }
    }

    static func unconstrained(_ p: Double, _ b: ClosedRange<Double>) -> Double {
        // Start strictly inside the bounds, where the transforms are invertible.
        let width = b.upperBound - b.lowerBound
        let margin = width.isFinite ? width * 1e-6 : max(abs(p) * 1e-6, 1e-12)
        let inside = min(max(p, b.lowerBound + margin), b.upperBound - margin)
        switch (b.lowerBound.isFinite, b.upperBound.isFinite) {
        case (true, true):
            let s = (inside - b.lowerBound) / width
            return Double.log(s / (1 - s))
        case (true, false): return Double.log(inside - b.lowerBound)
        case (false, true): return Double.log(b.upperBound - inside)
        case (false, false): return inside
        }
    }

    private func parameters(_ u: [Double], base: [Double]) -> (p: [Double], slope: [Double]) {
        var p = base
        var slope = [Double](repeating: 0, count: free.count)
        for (a, i) in free.enumerated() {
            (p[i], slope[a]) = Self.natural(u[a], bounds[a])
        }
        return (p, slope)
    }

    /// Model, Jacobian and weighted residuals at `p`; returns ½Σr², or nil when not finite.
    private mutating func evaluate(_ p: [Double]) -> Double? {
        let n = frequencies.count
        p.withUnsafeBufferPointer { pb in
            frequencies.withUnsafeBufferPointer { fb in
                model.withUnsafeMutableBufferPointer { zb in
                    jacobian.withUnsafeMutableBufferPointer { jb in
                        circuit.evaluate(parameters: pb, frequencies: fb, impedance: zb, jacobian: jb, workspace: &workspace)
                    }
                }
            }
        }
        var cost = 0.0
        for k in 0..<n {
            let d = model[k] - data[k]
            residual[2 * k] = d.real / sigma[2 * k]
            residual[2 * k + 1] = d.imaginary / sigma[2 * k + 1]
            cost += residual[2 * k] * residual[2 * k] + residual[2 * k + 1] * residual[2 * k + 1]
        }
        return cost.isFinite ? cost / 2 : nil
    }

    /// `JᵀJ` and `Jᵀr` of the weighted residuals with respect to the free columns, each column
    /// scaled by `slope` (pass ones for natural parameters).
    private func normalEquations(slope: [Double]) -> (a: [Double], g: [Double]) {
        let m = free.count
        let width = circuit.parameterCount
        var a = [Double](repeating: 0, count: m * m)
        var g = [Double](repeating: 0, count: m)
        var row = [Double](repeating: 0, count: 2 * m)
        // Hot loop of the fit: unchecked buffers, lower triangle only.
        jacobian.withUnsafeBufferPointer { jac in
        residual.withUnsafeBufferPointer { res in
        sigma.withUnsafeBufferPointer { sig in
        free.withUnsafeBufferPointer { free in
        slope.withUnsafeBufferPointer { slope in
        a.withUnsafeMutableBufferPointer { a in
        g.withUnsafeMutableBufferPointer { g in
        row.withUnsafeMutableBufferPointer { row in
            for k in 0..<frequencies.count {
                let weightRe = 1 / sig[2 * k], weightIm = 1 / sig[2 * k + 1]
                for c in 0..<m {
                    let d = jac[k * width + free[c]]
                    row[c] = d.real * slope[c] * weightRe
                    row[m + c] = d.imaginary * slope[c] * weightIm
                }
                let rRe = res[2 * k], rIm = res[2 * k + 1]
                for r in 0..<m {
                    let re = row[r], im = row[m + r]
                    g[r] += re * rRe + im * rIm
                    for c in 0...r { a[r * m + c] += re * row[c] + im * row[m + c] }
                }
            }
        }}}}}}}}
        for r in 0..<m { for c in (r + 1)..<m { a[r * m + c] = a[c * m + r] } }
        return (a, g)
    }

    mutating func solve(from start: [Double], maxIterations: Int) -> Outcome? {
        let m = free.count
        var u = free.indices.map { Self.unconstrained(start[free[$0]], bounds[$0]) }
        var (p, slope) = parameters(u, base: start)
        guard var cost = evaluate(p) else { return nil }
        var lambda = -1.0
        var nu = 2.0
        var iterations = 0
        var converged = false
        search: while iterations < maxIterations {
            iterations += 1
            let (a, g) = normalEquations(slope: slope)
            let gradientScale = g.indices.map { abs(g[$0]) / max((a[$0 * m + $0] * 2 * cost).squareRoot(), .leastNormalMagnitude) }
            if gradientScale.allSatisfy({ $0 <= 1e-10 }) { converged = true; break }
            if lambda < 0 { lambda = 1e-3 * ((0..<m).map { a[$0 * m + $0] }.max() ?? 1) }
            while true {
                var damped = a
                for i in 0..<m { damped[i * m + i] += lambda * max(a[i * m + i], 1e-300) }
                var step = g.map { -$0 }
                if LinearAlgebra.choleskySolve(&damped, &step, n: m) {
                    // At most a factor e² per iteration on exp-transformed parameters: long jumps
                    // land on flat, degenerate plateaus (a resistor at 0, a capacitance at ∞).
                    let longest = step.map(abs).max() ?? 0
                    if longest > Self.maxStep { step = step.map { $0 * Self.maxStep / longest } }
                    let trialU = zip(u, step).map { $0 + $1 }
                    let trial = parameters(trialU, base: p)
                    if let trialCost = evaluate(trial.p) {
                        var predicted = 0.0
                        for i in 0..<m {
                            var curvature = 0.0
                            for j in 0..<m { curvature += a[i * m + j] * step[j] }
                            predicted -= step[i] * (g[i] + 0.5 * curvature)
                        }
                        let rho = (cost - trialCost) / predicted
                        if rho > 0 {
                            let reduction = cost - trialCost
                            let stepSize = step.map(abs).max() ?? 0
                            u = trialU
                            (p, slope) = trial
                            cost = trialCost
                            lambda *= max(1.0 / 3, 1 - Double.pow(2 * rho - 1, 3))
                            nu = 2
                            // Small steps end the search; a small reduction alone may be slow progress along a flat valley.
                            let size = 1 + (u.map(abs).max() ?? 0)
                            if stepSize <= 1e-10 * size || (reduction <= 1e-12 * cost && stepSize <= 1e-6 * size) {
                                converged = true
                                break search
                            }
                            break
                        }
                    }
                }
                lambda *= nu
                nu *= 2
                if lambda > 1e20 {
                    // No step reduces the cost any further: a (possibly flat) minimum.
                    converged = true
                    _ = evaluate(p)
                    break search
                }
            }
        }
        return Outcome(parameters: p, cost: cost, iterations: iterations, converged: converged)
    }

    /// Statistics and residuals at an outcome; `scale` (the starting values) sets how close to a bound counts as at it.
    mutating func report(_ outcome: Outcome, names: [String], units: [String], bounds allBounds: [ClosedRange<Double>], scale: [Double]) -> FitResult {
        let p = outcome.parameters
        let cost = evaluate(p) ?? .nan
        let m = free.count
        let (a, _) = normalEquations(slope: Array(repeating: 1, count: m))
        let dof = Double(2 * frequencies.count - m)
        let variance = LinearAlgebra.inverseDiagonal(a, n: m)?.map { $0 * 2 * cost / dof }
        var warnings: [String] = []
        if !outcome.converged { warnings.append("did not converge within \(outcome.iterations) iterations") }
        if variance == nil { warnings.append("parameters are not all identifiable from this spectrum (singular Jacobian); no standard errors") }
        var fitted: [FittedParameter] = []
        for (i, name) in names.enumerated() {
            let column = free.firstIndex(of: i)
            let error = column.flatMap { variance?[$0] }.flatMap { $0 >= 0 && $0.isFinite ? $0.squareRoot() : nil }
            fitted.append(FittedParameter(name: name, value: p[i], standardError: error, unit: units[i], fixed: column == nil))
            let b = allBounds[i]
            let tolerance = 1e-6 * max(abs(scale[i]), b.lowerBound.isFinite && b.upperBound.isFinite ? b.upperBound - b.lowerBound : 0)
            if column != nil, [b.lowerBound, b.upperBound].contains(where: { $0.isFinite && abs(p[i] - $0) <= tolerance }) {
                warnings.append("\(name) = \(p[i]) is at its bound [\(b.lowerBound), \(b.upperBound)]")
            }
        }
        var residuals: [FitResidual] = []
        var squares = 0.0
        for k in frequencies.indices {
            let d = model[k] - data[k]
            residuals.append(FitResidual(frequency: frequencies[k], real: d.real, imag: d.imaginary))
            squares += d.real * d.real + d.imaginary * d.imaginary
        }
        return FitResult(circuit: circuit.description, weighting: weighting, parameters: fitted,
                         rmse: (squares / Double(2 * frequencies.count)).squareRoot(), chiSquare: 2 * cost,
                         iterations: outcome.iterations, converged: outcome.converged, warnings: warnings, residuals: residuals)
    }
}
