#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ComplexModule
import RealModule

/// A single-input single-output commensurate fractional state-space model
/// `D^q x = A x + B u`, `y = C x + D u` (Caputo, x(0) = 0).
///
/// Solved through its transfer function in `s = p^q`: the characteristic
/// polynomial and `C adj(sI - A) B` come from Faddeev–LeVerrier, the poles from
/// Durand–Kerner, and the partial fractions give the exact step response
/// `y(t) = D + Σ r_i t^q E_{q,q+1}(λ_i t^q) + Σ_k a_k t^(qk)/Γ(qk+1)`.
/// Nonzero poles must be simple; zero may be a repeated pole (integrators).
public struct CommensurateSystem: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case shape(String)
        case repeatedPole(Double, Double)
        public var description: String {
            switch self {
            case .shape(let s): "state-space model: \(s)"
            case let .repeatedPole(re, im): "state-space model: repeated nonzero pole \(re)+\(im)i is not supported"
            }
        }
    }

    public let order: Double
    public let direct: Double
    /// Simple nonzero poles λ_i (in s = p^q) and their residues.
    public let poles: [Complex<Double>]
    public let residues: [Complex<Double>]
    /// Coefficients a_k of a_k / s^k for the pole at zero, k = 1…m.
    public let integratorCoefficients: [Double]

    public init(order: Double, a: [[Double]], b: [Double], c: [Double], d: Double) throws(Failure) {
        let n = b.count
        guard n > 0, a.count == n, a.allSatisfy({ $0.count == n }), c.count == n else {
            throw .shape("A must be n×n and B, C of length n")
        }
        guard order > 0, order <= 1 else { throw .shape("order must be in (0, 1]") }
        self.order = order
        self.direct = d
        // Faddeev–LeVerrier: p(s) = s^n + Σ coef[k] s^k, adj(sI-A) = Σ_{k=1}^{n} M_k s^(n-k).
        var characteristic = Array(repeating: 0.0, count: n + 1)
        characteristic[n] = 1
        var numerator = Array(repeating: 0.0, count: n)  // coefficient of s^k
        var m = (0..<n).map { i in (0..<n).map { j in i == j ? 1.0 : 0.0 } }
        for k in 1...n {
            numerator[n - k] = (0..<n).reduce(0.0) { sum, i in sum + c[i] * (0..<n).reduce(0.0) { $0 + m[i][$1] * b[$1] } }
            let am = (0..<n).map { i in (0..<n).map { j in (0..<n).reduce(0.0) { $0 + a[i][$1] * m[$1][j] } } }
            let trace = (0..<n).reduce(0.0) { $0 + am[$1][$1] }
            characteristic[n - k] = -trace / Double(k)
            m = (0..<n).map { i in (0..<n).map { j in am[i][j] + (i == j ? characteristic[n - k] : 0) } }
        }
        // Split off the pole at zero: p(s) = s^z · Q(s).
        let scale = characteristic.map(abs).max() ?? 1
        var zeros = 0
        while zeros < n && abs(characteristic[zeros]) <= 1e-14 * scale { zeros += 1 }
        let q = Array(characteristic[zeros...])
        let roots = Self.roots(of: q)
        for i in roots.indices {
            for j in roots.indices where j > i && (roots[i] - roots[j]).length < 1e-7 * max(1, roots[i].length) {
                throw .repeatedPole(roots[i].real, roots[i].imaginary)
            }
        }
        poles = roots
        residues = roots.map { root in
            Self.evaluate(numerator, at: root) / (Self.power(root, zeros) * Self.evaluate(Self.derivative(q), at: root))
        }
        // Laurent coefficients at zero: N/Q = Σ h_j s^j, a_{z-j} = h_j.
        var h = Array(repeating: 0.0, count: zeros)
        for j in 0..<zeros {
            var value = j < numerator.count ? numerator[j] : 0
            for i in stride(from: 1, through: j, by: 1) where i < q.count { value -= q[i] * h[j - i] }
            h[j] = value / q[0]
        }
        integratorCoefficients = (1...max(zeros, 1)).map { k in zeros >= k ? h[zeros - k] : 0 }
    }

    /// Matignon's criterion: asymptotically stable iff every pole satisfies |arg λ| > qπ/2 (and none is zero).
    public var isAsymptoticallyStable: Bool {
        integratorCoefficients.allSatisfy { $0 == 0 } && poles.allSatisfy { abs($0.phase) > order * .pi / 2 }
    }

    /// Exact output at time t after a unit step of the input at t = 0.
    public func stepResponse(_ t: Double) -> Double {
        stepResponse(t) { z, alpha, beta in MittagLeffler.evaluate(z, alpha: alpha, beta: beta) }
    }

    /// The same with every Mittag-Leffler value from its truncated power series:
    /// the classical method, kept to show where it fails.
    public func stepResponseBySeries(_ t: Double, terms: Int = 300) -> Double {
        stepResponse(t) { z, alpha, beta in
            var sum = Complex<Double>(0, 0)
            var power = Complex<Double>(1, 0)
            for k in 0..<terms {
                sum += power * Complex(MittagLeffler.reciprocalGamma(alpha * Double(k) + beta), 0)
                power *= z
            }
            return sum
        }
    }

    private func stepResponse(_ t: Double, mittagLeffler: (Complex<Double>, Double, Double) -> Complex<Double>) -> Double {
        guard t > 0 else { return direct }
        let tq = pow(t, order)
        var y = direct
        for (pole, residue) in zip(poles, residues) {
            let e = mittagLeffler(pole * Complex(tq, 0), order, order + 1)
            y += (residue * e).real * tq
        }
        for (k, a) in integratorCoefficients.enumerated() where a != 0 {
            let power = order * Double(k + 1)
            y += a * pow(t, power) / tgamma(power + 1)
        }
        return y
    }

    // MARK: Polynomials (coefficient of s^k at index k)

    static func evaluate(_ p: [Double], at z: Complex<Double>) -> Complex<Double> {
        var value = Complex<Double>(0, 0)
        for coefficient in p.reversed() { value = value * z + Complex(coefficient, 0) }
        return value
    }

    static func derivative(_ p: [Double]) -> [Double] {
        p.count <= 1 ? [0] : (1..<p.count).map { Double($0) * p[$0] }
    }

    static func power(_ z: Complex<Double>, _ n: Int) -> Complex<Double> {
        var value = Complex<Double>(1, 0)
        for _ in 0..<n { value *= z }
        return value
    }

    /// Durand–Kerner iteration on the monic-normalised polynomial, polished by Newton steps.
    static func roots(of p: [Double]) -> [Complex<Double>] {
        let degree = p.count - 1
        guard degree > 0 else { return [] }
        let lead = p[degree]
        let monic = p.map { $0 / lead }
        let radius = 1 + (monic.dropLast().map(abs).max() ?? 0)
        var z = (0..<degree).map { Complex(length: radius, phase: 2 * .pi * Double($0) / Double(degree) + 0.4) }
        for _ in 0..<500 {
            var change = 0.0
            for i in 0..<degree {
                var den = Complex<Double>(1, 0)
                for j in 0..<degree where j != i { den *= z[i] - z[j] }
                let step = evaluate(monic, at: z[i]) / den
                z[i] -= step
                change = max(change, step.length)
            }
            if change < 1e-15 * radius { break }
        }
        let slope = derivative(monic)
        for i in z.indices {
            for _ in 0..<3 {
                let d = evaluate(slope, at: z[i])
                if d.length > 0 { z[i] -= evaluate(monic, at: z[i]) / d }
            }
        }
        return z
    }
}
