#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ComplexModule
import RealModule

/// The two-parameter Mittag-Leffler function `E_{α,β}(z) = Σ z^k / Γ(αk + β)`.
///
/// Evaluated by numerical inversion of its Laplace transform
/// `s^(α-β) / (s^α - z)` on an optimal parabolic contour, plus the residues of
/// the poles the contour leaves out (Garrappa, SIAM J. Numer. Anal. 53, 2015).
/// Accurate to about 1e-15 relative for any argument, where the power series
/// loses everything to cancellation once `|z|^(1/α)` exceeds about 30.
/// Large negative real arguments with `0 < α < 1` take the convergent part of
/// the asymptotic expansion, which is exact to rounding there and much cheaper.
public enum MittagLeffler {
    /// `E_{α,β}(z)` for real `z`; `0 < α ≤ 100`, any finite `β` (NaN outside that domain).
    public static func evaluate(_ z: Double, alpha: Double, beta: Double = 1) -> Double {
        guard inDomain(alpha: alpha, beta: beta), z.isFinite else { return .nan }
        if z < 0, alpha < 1, let value = negativeAsymptotic(z, alpha: alpha, beta: beta) { return value }
        return inverseLaplace(re: z, im: 0, alpha: alpha, beta: beta).re
    }

    /// `E_{α,β}(z)` for complex `z`; `0 < α ≤ 100`, any finite `β` (NaN outside that domain).
    public static func evaluate(_ z: Complex<Double>, alpha: Double, beta: Double = 1) -> Complex<Double> {
        guard inDomain(alpha: alpha, beta: beta), z.isFinite else { return Complex(.nan, .nan) }
        if z.imaginary == 0 {
            return Complex(evaluate(z.real, alpha: alpha, beta: beta), 0)
        }
        let v = inverseLaplace(re: z.real, im: z.imaginary, alpha: alpha, beta: beta)
        return Complex(v.re, v.im)
    }

    private static func inDomain(alpha: Double, beta: Double) -> Bool {
        alpha > 0 && alpha <= 100 && beta.isFinite
    }

    /// The three-parameter (Prabhakar) function `E^γ_{α,β}(z) = Σ (γ)_k z^k / (k! Γ(αk + β))`
    /// for complex `z`; `0 < α ≤ 1`, `γ > 0`, any finite `β` (NaN outside that domain).
    ///
    /// Same Laplace inversion as the two-parameter function, of `s^(αγ-β) / (s^α - z)^γ`.
    /// For `γ ≠ 1` the singularities at `s^α = z` are branch points, not poles, so the
    /// contour passes to the right of all of them; the integrand then reaches `e^φ`
    /// (`φ = (Re s* + |s*|)/2` of the rightmost branch point), so where the 1e-15 target
    /// cannot be met that way the result is NaN rather than inaccurate. Always covered: the
    /// negative real axis with `α < 1` (no branch point on the principal sheet) and |z| ≲ 1/2;
    /// NaN for example for real `z ≳ 1.5^α` and far out near the positive real axis.
    /// `γ = 1` is `evaluate(_:alpha:beta:)`.
    public static func evaluate(_ z: Complex<Double>, alpha: Double, beta: Double, gamma: Double) -> Complex<Double> {
        if gamma == 1 { return evaluate(z, alpha: alpha, beta: beta) }
        guard alpha > 0, alpha <= 1, beta.isFinite, gamma > 0, gamma.isFinite, z.isFinite else { return Complex(.nan, .nan) }
        let v = inverseLaplace(re: z.real, im: z.imaginary, alpha: alpha, beta: beta, gamma: gamma)
        return Complex(v.re, v.im)
    }

    /// `E^γ_{α,β}(x)` for real `x`; see the complex form.
    public static func evaluate(_ x: Double, alpha: Double, beta: Double, gamma: Double) -> Double {
        evaluate(Complex(x, 0), alpha: alpha, beta: beta, gamma: gamma).real
    }

    /// `dE_{α,β}/dz`, from `α z E' = E_{α,β-1} - (β-1) E_{α,β}` (series near 0).
    public static func derivative(_ z: Double, alpha: Double, beta: Double = 1) -> Double {
        if abs(z) < 1e-3 {
            // Four terms of Σ k z^(k-1)/Γ(αk+β): truncation below 1e-12 relative.
            var sum = 0.0
            var power = 1.0
            for k in 1...5 {
                sum += Double(k) * power * reciprocalGamma(alpha * Double(k) + beta)
                power *= z
            }
            return sum
        }
        return (evaluate(z, alpha: alpha, beta: beta - 1) - (beta - 1) * evaluate(z, alpha: alpha, beta: beta)) / (alpha * z)
    }

    /// The truncated power series, as used by the classical series method.
    /// Kept as the reference that shows where that method breaks down; do not use it for results.
    public static func powerSeries(_ z: Double, alpha: Double, beta: Double = 1, terms: Int = 200) -> Double {
        var sum = 0.0
        var power = 1.0
        for k in 0..<terms {
            sum += power * reciprocalGamma(alpha * Double(k) + beta)
            power *= z
        }
        return sum
    }

    /// `1/Γ(x)`, exactly 0 at the poles of Γ.
    public static func reciprocalGamma(_ x: Double) -> Double {
        if x <= 0, x == x.rounded() { return 0 }
        return 1 / tgamma(x)
    }

    // MARK: Asymptotic expansion

    /// `E_{α,β}(z) ~ -Σ_{k≥1} z^(-k)/Γ(β-αk)` for `z → -∞`, `0 < α < 1`: there
    /// the exponential part is absent, so once the terms fall below rounding
    /// the sum is exact. Returns nil when `|z|` is too small for that.
    static func negativeAsymptotic(_ z: Double, alpha: Double, beta: Double) -> Double? {
        let logSize = log(-z)
        var sum = 0.0
        var previousEnvelope = Double.infinity
        for k in 1...80 {
            let argument = beta - alpha * Double(k)
            sum -= exp(-Double(k) * logSize) * (z < 0 && k % 2 == 1 ? -1 : 1) * reciprocalGamma(argument)
            // |1/Γ(x)| ≤ Γ(1-x)/π for x < 0 bounds the term even where 1/Γ happens to pass near 0.
            let envelope = argument < 0 ? exp(lgamma(1 - argument) - Double(k) * logSize) / .pi : exp(-Double(k) * logSize)
            if envelope <= 1e-17 * abs(sum) { return sum }
            // Terms growing again: the asymptotic series stops helping here.
            if envelope > previousEnvelope { return nil }
            previousEnvelope = envelope
        }
        return nil
    }

    // MARK: Laplace-transform inversion

    struct Value { var re: Double; var im: Double }

    /// Target accuracy of the quadrature, as `log(ε)`.
    static let logTarget = log(1e-15)
    static let logMachineEpsilon = log(Double.ulpOfOne)

    /// `E^γ_{α,β}(re + i·im)`; `γ = 1` is the two-parameter function.
    static func inverseLaplace(re: Double, im: Double, alpha: Double, beta: Double, gamma: Double = 1) -> Value {
        let magnitude = (re * re + im * im).squareRoot()
        if magnitude <= 0.25 { return smallArgumentSeries(re: re, im: im, alpha: alpha, beta: beta, gamma: gamma) }
        let theta = atan2(im, re)

        // Poles s* of the transform: s*^α = z on the principal sheet.
        let kMin = Int((-alpha / 2 - theta / (2 * .pi)).rounded(.up))
        let kMax = Int((alpha / 2 - theta / (2 * .pi)).rounded(.down))
        var poles: [(re: Double, im: Double, phi: Double)] = []
        if kMax >= kMin {
            let radius = pow(magnitude, 1 / alpha)
            for k in kMin...kMax {
                let angle = (theta + 2 * Double(k) * .pi) / alpha
                let s = (re: radius * cos(angle), im: radius * sin(angle))
                let phi = (s.re + radius) / 2
                if phi > 1e-15 { poles.append((s.re, s.im, phi)) }
            }
        }
        poles.sort { $0.phi < $1.phi }

        // Singularities bounding the admissible regions: the origin, then the poles.
        var phis = [0.0] + poles.map(\.phi) + [Double.infinity]
        let count = poles.count + 1
        let p0 = max(0, -2 * (alpha * gamma - beta + 1))
        // Branch points (γ ≠ 1) admit no residues: only the region right of all singularities.
        let firstRegion = gamma == 1 ? 0 : count - 1
        var logEpsilon = logTarget
        var best: (mu: Double, h: Double, n: Double, index: Int) = (0, 0, .infinity, 0)
        while true {
            best = (0, 0, .infinity, 0)
            for j in firstRegion..<count {
                guard phis[j] < (logEpsilon - logMachineEpsilon), phis[j] < phis[j + 1] else { continue }
                let p = j == 0 ? p0 : gamma
                let q = j < count - 1 ? 1.0 : Double.infinity
                let param = j < count - 1
                    ? boundedRegion(phiJ: phis[j], phiJ1: phis[j + 1], p: p, q: q, logEpsilon: logEpsilon)
                    : unboundedRegion(phiJ: phis[j], p: p, logEpsilon: logEpsilon)
                if param.n < best.n { best = (param.mu, param.h, param.n, j) }
            }
            if best.n <= 200 { break }
            logEpsilon += log(10.0)
            if logEpsilon > -2 { break }
        }
        phis.removeAll()
        // Branch points: a coarser tolerance would only hide round-off of order e^φ·ε relative to a far smaller E.
        guard best.n.isFinite, gamma == 1 || logEpsilon == logTarget else { return Value(re: .nan, im: .nan) }

        // Trapezoidal rule on the parabola s(u) = μ(iu + 1)².
        let n = Int(best.n)
        let mu = best.mu, h = best.h
        var sumRe = 0.0, sumIm = 0.0
        let symmetric = im == 0
        let start = symmetric ? 0 : -n
        for k in start...n {
            let u = h * Double(k)
            let sRe = mu * (1 - u * u), sIm = 2 * mu * u
            let dRe = -2 * mu * u, dIm = 2 * mu
            // s^(αγ-β) / (s^α - z)^γ · s'(u) · e^s
            let logR = log((sRe * sRe + sIm * sIm).squareRoot())
            let arg = atan2(sIm, sRe)
            let aMag = exp(alpha * logR), aArg = alpha * arg
            var denRe = aMag * cos(aArg) - re, denIm = aMag * sin(aArg) - im
            if gamma != 1 {
                // Principal power: for α ≤ 1 and the contour right of all s*, s^α - z never crosses the cut.
                let dMag = exp(gamma * log((denRe * denRe + denIm * denIm).squareRoot())), dArg = gamma * atan2(denIm, denRe)
                (denRe, denIm) = (dMag * cos(dArg), dMag * sin(dArg))
            }
            let nMag = exp((alpha * gamma - beta) * logR + sRe), nArg = (alpha * gamma - beta) * arg + sIm
            var fRe = nMag * cos(nArg), fIm = nMag * sin(nArg)
            let den2 = denRe * denRe + denIm * denIm
            (fRe, fIm) = ((fRe * denRe + fIm * denIm) / den2, (fIm * denRe - fRe * denIm) / den2)
            (fRe, fIm) = (fRe * dRe - fIm * dIm, fRe * dIm + fIm * dRe)
            if symmetric {
                // For real z the terms at ±u are F and -conj(F): only Im F survives.
                sumIm += k > 0 ? 2 * fIm : fIm
            } else {
                sumRe += fRe
                sumIm += fIm
            }
        }
        // h/(2πi) Σ
        var resultRe = h * sumIm / (2 * .pi)
        var resultIm = -h * sumRe / (2 * .pi)
        if symmetric { resultIm = 0 }

        // Residues of the poles to the right of the chosen contour: s*^(1-β) e^(s*) / α.
        for pole in poles.dropFirst(best.index) {
            let logR = log((pole.re * pole.re + pole.im * pole.im).squareRoot())
            let arg = atan2(pole.im, pole.re)
            let mag = exp((1 - beta) * logR + pole.re) / alpha
            let ang = (1 - beta) * arg + pole.im
            resultRe += mag * cos(ang)
            if !symmetric { resultIm += mag * sin(ang) }
        }
        return Value(re: resultRe, im: resultIm)
    }

    /// For |z| ≤ 1/4 the series has no cancellation and its terms fall by about 4× each
    /// (times `(γ)_k/k!`, which grows only like `k^(γ-1)`).
    static func smallArgumentSeries(re: Double, im: Double, alpha: Double, beta: Double, gamma: Double) -> Value {
        var sumRe = 0.0, sumIm = 0.0
        var powRe = 1.0, powIm = 0.0  // (γ)_k z^k / k!
        for k in 0..<200 {
            let g = reciprocalGamma(alpha * Double(k) + beta)
            sumRe += powRe * g
            sumIm += powIm * g
            let rising = (gamma + Double(k)) / Double(k + 1)
            (powRe, powIm) = (rising * (powRe * re - powIm * im), rising * (powRe * im + powIm * re))
            if (powRe * powRe + powIm * powIm).squareRoot() < 1e-18 * max(1, (sumRe * sumRe + sumIm * sumIm).squareRoot()) { break }
        }
        return Value(re: sumRe, im: sumIm)
    }

    struct Parameters { var mu: Double; var h: Double; var n: Double }

    /// Optimal parabola for the region between two singularities (Garrappa 2015, §3).
    static func boundedRegion(phiJ: Double, phiJ1: Double, p: Double, q: Double, logEpsilon: Double) -> Parameters {
        let fac = 1.01
        let fMax = exp(logEpsilon - logMachineEpsilon)
        let sqJ = phiJ.squareRoot()
        let threshold = 2 * (logEpsilon - logMachineEpsilon).squareRoot()
        let sqJ1 = min(phiJ1.squareRoot(), threshold - sqJ)
        var barJ = sqJ, barJ1 = sqJ1
        var fBar = 1.0
        let none = Parameters(mu: 0, h: 0, n: .infinity)
        if p < 1e-14 && q < 1e-14 {
            // both bounds free
        } else if p < 1e-14 {
            let fMin = sqJ > 0 ? fac * pow(sqJ / (sqJ1 - sqJ), q) : fac
            guard fMin < fMax else { return none }
            fBar = fMin + fMin / fMax * (fMax - fMin)
            let fq = pow(fBar, -1 / q)
            barJ1 = (2 * sqJ1 - fq * sqJ) / (2 + fq)
        } else if q < 1e-14 {
            let fMin = fac * pow(sqJ1 / (sqJ1 - sqJ), p)
            guard fMin < fMax else { return none }
            fBar = fMin + fMin / fMax * (fMax - fMin)
            let fp = pow(fBar, -1 / p)
            barJ = (2 * sqJ + fp * sqJ1) / (2 - fp)
        } else {
            var fMin = fac * (sqJ + sqJ1) / pow(sqJ1 - sqJ, max(p, q))
            guard fMin < fMax else { return none }
            fMin = max(fMin, 1.5)
            fBar = fMin + fMin / fMax * (fMax - fMin)
            let fp = pow(fBar, -1 / p), fq = pow(fBar, -1 / q)
            let w = -phiJ1 / logEpsilon
            let den = 2 + w - (1 + w) * fp + fq
            barJ = ((2 + w + fq) * sqJ + fp * sqJ1) / den
            barJ1 = (-(1 + w) * fq * sqJ + (2 + w - (1 + w) * fp) * sqJ1) / den
        }
        let logE = logEpsilon - log(fBar)
        let w = -barJ1 * barJ1 / logE
        let mu = pow(((1 + w) * barJ + barJ1) / (2 + w), 2)
        let h = -2 * .pi / logE * (barJ1 - barJ) / ((1 + w) * barJ + barJ1)
        let n = ((1 - logE / mu).squareRoot() / h).rounded(.up)
        guard mu > 0, h > 0, n.isFinite else { return none }
        return Parameters(mu: mu, h: h, n: n)
    }

    /// Optimal parabola for the region right of the last singularity (Garrappa 2015, §3).
    static func unboundedRegion(phiJ: Double, p: Double, logEpsilon: Double) -> Parameters {
        let sqPhi = phiJ.squareRoot()
        var phiBar = phiJ > 0 ? phiJ * 1.01 : 0.01
        var sqBar = phiBar.squareRoot()
        let fMin = 1.0, fMax = 10.0, fTarget = 5.0
        var n = 0.0, a = 0.0, sqMu = 0.0
        for _ in 0..<100 {
            let logOverPhi = logEpsilon / phiBar
            n = (phiBar / .pi * (1 - 3 * logOverPhi / 2 + (1 - 2 * logOverPhi).squareRoot())).rounded(.up)
            a = .pi * n / phiBar
            sqMu = sqBar * abs(4 - a) / abs(7 - (1 + 12 * a).squareRoot())
            let fBar = pow((sqBar - sqPhi) / sqMu, -p)
            if p < 1e-14 || (fMin < fBar && fBar < fMax) { break }
            sqBar = pow(fTarget, -1 / p) * sqMu + sqPhi
            phiBar = sqBar * sqBar
        }
        var mu = sqMu * sqMu
        var h = (-3 * a - 2 + 2 * (1 + 12 * a).squareRoot()) / (4 - a) / n
        // Keep round-off under control: e^μ must not swamp the target accuracy.
        let threshold = logEpsilon - logMachineEpsilon
        if mu > threshold {
            let qShift = abs(p) < 1e-14 ? 0 : pow(fTarget, -1 / p) * mu.squareRoot()
            phiBar = pow(qShift + sqPhi, 2)
            if phiBar < threshold {
                let w = (logMachineEpsilon / (logMachineEpsilon - logEpsilon)).squareRoot()
                let u = (-phiBar / logMachineEpsilon).squareRoot()
                mu = threshold
                n = (w * logEpsilon / 2 / .pi / (u * w - 1)).rounded(.up)
                h = (logMachineEpsilon / (logMachineEpsilon - logEpsilon)).squareRoot() / n
            } else {
                return Parameters(mu: 0, h: 0, n: .infinity)
            }
        }
        return Parameters(mu: mu, h: h, n: n)
    }
}
