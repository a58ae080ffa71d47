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
    /// Three methods, each with an error estimate computed along the way (rounding from the
    /// sizes of the summed terms, quadrature error from halving the step); the first whose
    /// estimate is within `prabhakarTarget` gives the result, else the best one within
    /// `prabhakarTolerance` (relative to `max(|E|, 1e-3)`), else NaN – never a less accurate
    /// number: the power series, compensated, wherever its terms hardly cancel (small |z|, and
    /// the sector around the positive real axis); the inversion of `s^(αγ-β) / (s^α - z)^γ` on
    /// a parabolic contour right of the singularity `s*` (`s*^α = z`, a branch point for
    /// `γ ≠ 1`), shifted by `Re s*`; and where `|Im s*|` is large (the oscillating directions
    /// `α·π/2 < |arg z| < α·π`, and far out near the positive axis) that inversion split into
    /// a contour around the origin and a Hankel loop around the cut from s*. For α = 1 left of
    /// the imaginary axis, Kummer's transformation as well. NaN remains for some |z| ≥ 2 in the
    /// oscillating directions and for large γ far out near the positive axis (docs/fractional.md
    /// lists where), never on the negative real axis.
    /// `γ = 1` is `evaluate(_:alpha:beta:)`.
    public static func evaluate(_ z: Complex<Double>, alpha: Double, beta: Double, gamma: Double) -> Complex<Double> {
        if gamma == 1 { return evaluate(z, alpha: alpha, beta: beta) }
        guard alpha > 0, alpha <= 1, beta.isFinite, gamma > 0, gamma.isFinite, z.isFinite else { return Complex(.nan, .nan) }
        // For α = 1 left of the imaginary axis s* = z lies on or near the origin's cut; Kummer's transformation
        // E^γ_{1,β}(z) = e^z E^{β-γ}_{1,β}(-z) moves it to the right half-plane, where the series hardly cancels
        // (β - γ ≥ 0 on the real axis: all terms positive, 0 is the single term 1/Γ(β)).
        let kummer = alpha == 1 && z.real < -1
        func transformed(_ estimate: Estimate) -> Estimate {
            let factor = Complex.exp(z), value = factor * Complex(estimate.value.re, estimate.value.im)
            // e^z itself is rounded to about ε(2 + |z|) relative.
            let rounding = Double.ulpOfOne * (2 + z.length) * value.length
            return Estimate(value: Value(re: value.real, im: value.imaginary), error: factor.length * estimate.error + rounding)
        }
        var best: Estimate
        if kummer, z.imaginary == 0, beta >= gamma {
            best = transformed(prabhakar(-z, alpha: 1, beta: beta, gamma: beta - gamma))
        } else {
            best = prabhakar(z, alpha: alpha, beta: beta, gamma: gamma)
            // Otherwise the transformed series is the fallback: for β < γ its first ⌈γ - β⌉ terms alternate
            // in sign (a terminating series near a zero of E when γ - β is an integer), off the axis its terms
            // turn by arg(-z); its estimate (ε Σ (2+k)|t_k|) counts what either cancels.
            if kummer, best.relativeError > prabhakarTarget,
               let series = compensatedSeries(re: -z.real, im: -z.imaginary, alpha: 1, beta: beta, gamma: beta - gamma),
               transformed(series).relativeError < best.relativeError {
                best = transformed(series)
            }
        }
        guard best.relativeError <= prabhakarTolerance else { return Complex(.nan, .nan) }
        return Complex(best.value.re, best.value.im)
    }

    /// The most accurate of the methods, cheapest first; each estimate is conservative
    /// (measured errors are mostly 10–1000 times smaller). Any real γ (γ ≤ 0 for Kummer's transformation).
    static func prabhakar(_ z: Complex<Double>, alpha: Double, beta: Double, gamma: Double) -> Estimate {
        let methods: [() -> Estimate?] = [
            { compensatedSeries(re: z.real, im: z.imaginary, alpha: alpha, beta: beta, gamma: gamma) },
            { branchPointContour(re: z.real, im: z.imaginary, alpha: alpha, beta: beta, gamma: gamma) },
            { hankelLoop(z, alpha: alpha, beta: beta, gamma: gamma) },
        ]
        var best = Estimate(value: Value(re: 0, im: 0), error: .infinity)
        for method in methods {
            if let candidate = method(), candidate.relativeError < best.relativeError { best = candidate }
            if best.relativeError <= prabhakarTarget { break }
        }
        return best
    }

    /// Estimated error (relative to max(|E|, 1e-3)) below which `evaluate(_:alpha:beta:gamma:)` looks no further.
    static let prabhakarTarget = 2e-14
    /// Largest estimated error (relative to max(|E|, 1e-3)) `evaluate(_:alpha:beta:gamma:)` returns a number for.
    static let prabhakarTolerance = 1e-12

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

    /// `E_{α,β}(re + i·im)`.
    static func inverseLaplace(re: Double, im: Double, alpha: Double, beta: Double) -> Value {
        let magnitude = (re * re + im * im).squareRoot()
        // For |z| ≤ 1/4 the series has no cancellation and its terms fall by about 4× each.
        if magnitude <= 0.25, let series = compensatedSeries(re: re, im: im, alpha: alpha, beta: beta, gamma: 1) {
            return series.value
        }
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
        let p0 = max(0, -2 * (alpha - beta + 1))
        var logEpsilon = logTarget
        var best: (mu: Double, h: Double, n: Double, index: Int) = (0, 0, .infinity, 0)
        while true {
            best = (0, 0, .infinity, 0)
            for j in 0..<count {
                guard phis[j] < (logEpsilon - logMachineEpsilon), phis[j] < phis[j + 1] else { continue }
                let p = j == 0 ? p0 : 1
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
        guard best.n.isFinite else { return Value(re: .nan, im: .nan) }

        // Trapezoidal rule on the parabola s(u) = μ(iu + 1)².
        let n = Int(best.n)
        let mu = best.mu, h = best.h
        var sumRe = 0.0, sumIm = 0.0
        let symmetric = im == 0
        let start = symmetric ? 0 : -n
        for k in start...n {
            let f = integrand(u: h * Double(k), mu: mu, sigma: 0, re: re, im: im, alpha: alpha, beta: beta, gamma: 1)
            let (fRe, fIm) = (f.re, f.im)
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

    /// `e^(s-σ) · s^(αγ-β) / (s^α - z)^γ · ds/du` at `s = σ + μ(iu + 1)²`, principal powers:
    /// for α ≤ 1 and the contour right of s*, `s^α - z` never crosses their cut.
    @inline(__always)
    static func integrand(u: Double, mu: Double, sigma: Double, re: Double, im: Double,
                          alpha: Double, beta: Double, gamma: Double) -> Value {
        let shiftedRe = mu * (1 - u * u), sIm = 2 * mu * u
        let sRe = sigma + shiftedRe
        let dRe = -2 * mu * u, dIm = 2 * mu
        let logR = log((sRe * sRe + sIm * sIm).squareRoot())
        let arg = atan2(sIm, sRe)
        let aMag = exp(alpha * logR), aArg = alpha * arg
        var denRe = aMag * cos(aArg) - re, denIm = aMag * sin(aArg) - im
        if gamma != 1 {
            let dMag = exp(gamma * log((denRe * denRe + denIm * denIm).squareRoot())), dArg = gamma * atan2(denIm, denRe)
            (denRe, denIm) = (dMag * cos(dArg), dMag * sin(dArg))
        }
        let nMag = exp((alpha * gamma - beta) * logR + shiftedRe), nArg = (alpha * gamma - beta) * arg + sIm
        var fRe = nMag * cos(nArg), fIm = nMag * sin(nArg)
        let den2 = denRe * denRe + denIm * denIm
        (fRe, fIm) = ((fRe * denRe + fIm * denIm) / den2, (fIm * denRe - fRe * denIm) / den2)
        return Value(re: fRe * dRe - fIm * dIm, im: fRe * dIm + fIm * dRe)
    }

    /// A value with its estimated absolute error.
    struct Estimate {
        var value: Value
        var error: Double
        /// Relative to `max(|E|, 1e-3)`, as the fixtures measure it: near a zero of E relative to 1e-3.
        var relativeError: Double { error / max(Complex(value.re, value.im).length, 1e-3) }
    }

    /// `Σ (γ)_k z^k / (k! Γ(αk + β))`, Neumaier-compensated, so that only the terms' own
    /// rounding remains: the k-th carries about `(2 + k)·ε` relative from its recurrence, and the
    /// estimate is `ε Σ (2 + k)|t_k|`, small against `|Σ t_k|` where the terms do not cancel.
    /// Nil where the terms still matter once `Γ(αk + β)` overflows (αk + β ≥ 171), or cancel hopelessly.
    static func compensatedSeries(re: Double, im: Double, alpha: Double, beta: Double, gamma: Double) -> Estimate? {
        // Σ|t_k| grows to about e^(|z|^(1/α)), the sum only to about e^(max(0, Re s*)) (s*^α = z): past
        // e^20 of cancellation no tolerance can be met, so do not sum.
        let radius = pow(Complex(re, im).length, 1 / alpha), theta = atan2(im, re)
        let growth = abs(theta) < alpha * .pi ? radius * max(0, cos(theta / alpha)) : 0
        guard radius - growth <= 20 else { return nil }
        var sumRe = 0.0, sumIm = 0.0, lostRe = 0.0, lostIm = 0.0
        var weightedSize = 0.0
        var powRe = 1.0, powIm = 0.0  // (γ)_k z^k / k!
        // The terms grow until αk ≈ |z|^(1/α): the sum is complete only past that.
        let peak = radius / alpha
        var k = 0, quiet = 0
        while true {
            let x = alpha * Double(k) + beta
            let g = x < 171 ? reciprocalGamma(x) : 0
            let termRe = powRe * g, termIm = powIm * g
            addCompensated(termRe, to: &sumRe, lost: &lostRe)
            addCompensated(termIm, to: &sumIm, lost: &lostIm)
            let size = Complex(termRe, termIm).length
            weightedSize += Double(2 + k) * size
            let total = Complex(sumRe + lostRe, sumIm + lostIm).length
            // Past Γ's overflow the term is below |(γ)_k z^k / k!| / Γ(171).
            let bound = x < 171 ? size : Complex(powRe, powIm).length / 7.2e306
            // Four negligible terms in a row: one alone may just sit near a zero of 1/Γ.
            quiet = Double(k) > peak && bound <= 1e-17 * total ? quiet + 1 : 0
            if quiet == 4 {
                return Estimate(value: Value(re: sumRe + lostRe, im: sumIm + lostIm), error: Double.ulpOfOne * weightedSize)
            }
            guard x < 171 else { return nil }
            let rising = (gamma + Double(k)) / Double(k + 1)
            (powRe, powIm) = (rising * (powRe * re - powIm * im), rising * (powRe * im + powIm * re))
            k += 1
        }
    }

    /// Adds `term` to `sum`, keeping what rounding loses in `lost` (Neumaier).
    @inline(__always)
    static func addCompensated(_ term: Double, to sum: inout Double, lost: inout Double) {
        let next = sum + term
        lost += abs(sum) >= abs(term) ? (sum - next) + term : (term - next) + sum
        sum = next
    }

    /// `E^γ_{α,β}(z)` for `γ ≠ 1` on the parabola `σ + μ(iu + 1)²` right of the branch point s*.
    /// Shifted by `σ = max(0, Re s*)` the integrand peaks near `e^σ`, the size of the result, instead
    /// of `e^((Re s* + |s*|)/2)`. The trapezoidal sums with steps h and h/2 give the quadrature
    /// error (it squares when h halves); with the nodes' rounding that is the estimate.
    static func branchPointContour(re: Double, im: Double, alpha: Double, beta: Double, gamma: Double) -> Estimate? {
        let theta = atan2(im, re)
        var sigma = 0.0, phi = 0.0
        var order = max(0, -2 * (alpha * gamma - beta + 1))  // of the origin, when it is the only singularity
        // For α ≤ 1 at most one s* lies on the principal sheet, where |arg s*| = |θ|/α < π.
        if abs(theta) < alpha * .pi {
            let radius = pow(Complex(re, im).length, 1 / alpha)
            let starRe = radius * cos(theta / alpha), starIm = radius * sin(theta / alpha)
            sigma = max(0, starRe)
            let shiftedRe = starRe - sigma
            phi = (shiftedRe + (shiftedRe * shiftedRe + starIm * starIm).squareRoot()) / 2
            order = gamma
        }
        var logEpsilon = logTarget
        var parameters = unboundedRegion(phiJ: phi, p: order, logEpsilon: logEpsilon)
        while !(parameters.n <= 400) {
            logEpsilon += log(10.0)
            guard logEpsilon <= -2 else { return nil }
            parameters = unboundedRegion(phiJ: phi, p: order, logEpsilon: logEpsilon)
        }
        let mu = parameters.mu
        guard let sum = halvedTrapezoid(step: parameters.h, atLeast: Int(parameters.n), symmetric: im == 0, body: { u in
            let f = integrand(u: u, mu: mu, sigma: sigma, re: re, im: im, alpha: alpha, beta: beta, gamma: gamma)
            // Each node's rounding grows with |s - σ|, through the phases of e^s and of the powers.
            return (Complex(f.re, f.im), 1 + mu * (1 + u * u))
        }) else { return nil }
        let scale = exp(sigma)
        return Estimate(value: Value(re: sum.value.real * scale, im: sum.value.imaginary * scale), error: sum.error * scale)
    }

    /// `E^γ_{α,β}(z)` for `0 < |arg z| < απ` as two integrals over contours that each keep the
    /// integrand near the size of its part of the result: the parabola `μ(iu + 1)²` between the
    /// origin and s* (Garrappa's bounded region), and a Hankel loop around a cut from s* along
    /// the parabola through s* – in `ζ = √s` the vertical ray up from `ζ* = √s*`, which the loop
    /// `ζ = ζ* + iν·(-(1 + iv)²)` encloses. Nil where s* is too close to the origin's cut for the loop.
    static func hankelLoop(_ z: Complex<Double>, alpha: Double, beta: Double, gamma: Double) -> Estimate? {
        // Below the real axis by symmetry: E(conj z) = conj E(z).
        let mirrored = z.imaginary < 0
        let upper = mirrored ? z.conjugate : z
        let theta = atan2(upper.imaginary, upper.real)
        guard theta > 0, theta < alpha * .pi else { return nil }
        let rootStar = Complex(length: pow(upper.length, 1 / (2 * alpha)), phase: theta / (2 * alpha))
        // Closer to the origin's cut the loop must be so narrow that its estimate was measured up to 3× optimistic.
        guard rootStar.real >= 1 else { return nil }
        let exponent = Complex(alpha * gamma - beta, 0)
        // e^s s^(αγ-β) (s^α - z)^(-γ) at s = ζ², with log(s^α - z) continuous off the cut:
        // log(i(ζ - ζ*)) - iπ/2 has its cut on the ray up from ζ*, and (ζ^(2α) - z)/(ζ - ζ*) stays near 2α ζ*^(2α-1).
        func transform(_ root: Complex<Double>) -> Complex<Double> {
            let logRoot = Complex.log(root)
            let distance = root - rootStar
            // ζ^(2α) - z = z·((1 + d)^(2α) - 1), d = (ζ - ζ*)/ζ*, without cancellation near ζ*.
            let growth = Complex.expMinusOne(Complex(2 * alpha, 0) * Complex.log(onePlus: distance / rootStar))
            let quotient = upper * growth / distance
            let logDenominator = Complex.log(Complex.i * distance) - Complex(0, .pi / 2) + Complex.log(quotient)
            return Complex.exp(root * root + exponent * Complex(2, 0) * logRoot - Complex(gamma, 0) * logDenominator)
        }
        var logEpsilon = logTarget
        let phiStar = rootStar.real * rootStar.real
        var parameters = boundedRegion(phiJ: 0, phiJ1: phiStar, p: max(0, -2 * (alpha * gamma - beta + 1)), q: gamma,
                                       logEpsilon: logEpsilon)
        while !(parameters.n <= 400) {
            logEpsilon += log(10.0)
            guard logEpsilon <= -2 else { return nil }
            parameters = boundedRegion(phiJ: 0, phiJ1: phiStar, p: max(0, -2 * (alpha * gamma - beta + 1)), q: gamma,
                                       logEpsilon: logEpsilon)
        }
        let mu = parameters.mu
        let origin = halvedTrapezoid(step: parameters.h, atLeast: Int(parameters.n)) { u in
            let root = Complex(mu.squareRoot(), mu.squareRoot() * u)
            // ds/du = 2iμ(1 + iu)
            return (transform(root) * Complex(-2 * mu * u, 2 * mu), 1 + mu * (1 + u * u))
        }
        // The loop reaches about 5√ν to either side of ζ*: well clear of the origin's cut Re ζ = 0, and
        // narrow enough that |e^(ζ²)| grows little on its right side (by about e^(2 Re ζ* · width)).
        let nu = min(pow(rootStar.real / 8, 2), 1 / (rootStar.real * rootStar.real))
        // Nodes that come near the origin's cut must not matter (they would need the other branch).
        var peak = 0.0, nearCut = 0.0
        guard let loop = halvedTrapezoid(step: 0.1, atLeast: 0, body: { v in
            let t = Complex(-nu * (1 - v * v), -2 * nu * v)
            let root = rootStar + Complex.i * t
            // ds/dv = 2ζ · dζ/dv, dζ/dv = 2ν(1 + iv)
            let f = transform(root) * Complex(2, 0) * root * Complex(2 * nu, 2 * nu * v)
            peak = max(peak, f.length)
            if root.real < rootStar.real / 2 { nearCut = max(nearCut, f.length) }
            return (f, 1 + root.lengthSquared)
        }), let originPart = origin, nearCut <= 1e-18 * peak else { return nil }
        let sum = originPart.value + loop.value
        let value = mirrored ? sum.conjugate : sum
        return Estimate(value: Value(re: value.real, im: value.imaginary), error: originPart.error + loop.error)
    }

    /// `h/(2πi) Σ f(kh)` with steps h and h/2, over at least `|k| ≤ atLeast` and on until the terms
    /// fall below 1e-18 of the largest (far below the rounding, which Σ|f| measures, even where the
    /// terms cancel to a small result); `symmetric` when `f(-u) = -conj f(u)` (real z), so that
    /// only `u ≥ 0` is evaluated. The value is the finer sum; its absolute error estimate is the
    /// rounding (each term's `|f|·weight·ε`) plus `|difference|² / |value|` (the quadrature error
    /// squares when the step halves). Nil if the terms do not settle within 20000 steps.
    static func halvedTrapezoid(step h: Double, atLeast nodes: Int, symmetric: Bool = false,
                                body: (Double) -> (Complex<Double>, Double)) -> (value: Complex<Double>, error: Double)? {
        var fine = Complex<Double>.zero, coarse = Complex<Double>.zero
        var rounding = 0.0, peak = 0.0
        var quietRun = 0
        for j in 0... {
            if j > 2 * nodes, quietRun >= 8 { break }
            guard j <= 2 * nodes + 20_000 else { return nil }
            var loudest = 0.0
            for sign in j == 0 || symmetric ? [1.0] : [1.0, -1.0] {
                var (f, weight) = body(sign * Double(j) * h / 2)
                if symmetric, j > 0 {
                    // f(u) + f(-u) = 2i Im f(u)
                    f = Complex(0, 2 * f.imaginary)
                    weight *= 2
                }
                fine += f
                if j % 2 == 0 { coarse += f }
                let size = f.length
                rounding += size * weight
                loudest = max(loudest, size)
            }
            peak = max(peak, loudest)
            quietRun = loudest < 1e-18 * peak ? quietRun + 1 : 0
        }
        // h/(2πi) Σ
        let scale = Complex<Double>(0, -1 / (2 * Double.pi))
        let fineValue = fine * scale * Complex(h / 2, 0), coarseValue = coarse * scale * Complex(h, 0)
        let difference = (fineValue - coarseValue).length
        let size = fineValue.length
        let roundingError = rounding * Double.ulpOfOne * h / 2 / (2 * Double.pi)
        guard size > 0 else { return (fineValue, roundingError) }
        return (fineValue, roundingError + difference * difference / size)
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
