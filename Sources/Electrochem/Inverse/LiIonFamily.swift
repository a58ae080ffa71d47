import Numerics

/// The Li-ion circuit `li-ion` (R0-CPE1-La1-Zarc1-Zarc2-Zarc3-Zarc4) in the unconstrained
/// parameterisation the inverse model predicts (Buteau 2021, ch. 2), with `w = ln ω`:
///
/// - resistor: `R = e^r`;
/// - CPE-like elements: `Z = exp(q − φ (w + iπ/2))`, i.e. `Q = e^{−q}` and exponent `φ`;
/// - ZARC: `Z = e^r / (1 + exp(φ (w − w_c + iπ/2)))`, i.e. `τ = e^{−w_c}`;
/// - exponents: capacitive `φ = σ(ϕ)`, inductive `φ = −1/(1 + ϕ²)`.
///
/// Unconstrained vector θ, in the order of the circuit's parameters:
/// `[r0, q_CPE1, ϕ_CPE1, q_La1, ϕ_La1, r_1, w_c1, ϕ_1, r_2, w_c2, ϕ_2, r_3, w_c3, ϕ_3, r_4, w_c4, ϕ_4]`;
/// ZARC 1 is the inductive loop, ZARCs 2–4 the electrochemical arcs. A `CircuitVariant` removes
/// ZARCs and pins the La1 and CPE1 exponents; θ keeps all 17 entries.
public enum LiIonFamily {
    public static let circuitName = "li-ion"
    public static let parameterCount = 17
    /// Offsets of the electrochemical ZARCs' `r` in θ (each followed by `w_c`, `ϕ`).
    static let arcOffsets = [8, 11, 14]

    /// Kinds of the 17 unconstrained values, used for the symmetry transform.
    enum Role { case resistance, cpeScale, capacitiveExponent, inductiveExponent, characteristicFrequency }
    static let roles: [Role] = [
        .resistance,
        .cpeScale, .capacitiveExponent,
        .cpeScale, .inductiveExponent,
        .resistance, .characteristicFrequency, .inductiveExponent,
        .resistance, .characteristicFrequency, .capacitiveExponent,
        .resistance, .characteristicFrequency, .capacitiveExponent,
        .resistance, .characteristicFrequency, .capacitiveExponent,
    ]

    /// Exponent φ and its derivative dφ/dϕ.
    @inline(__always)
    static func exponent(_ phi: Double, inductive: Bool) -> (value: Double, slope: Double) {
        if inductive {
            let d = 1 + phi * phi
            return (-1 / d, 2 * phi / (d * d))
        }
        let s = 1 / (1 + Double.exp(-phi))
        return (s, s * (1 - s))
    }

    /// The exponent φ paired with each CPE-scale entry, for the symmetry transform.
    static func cpeExponent(_ theta: UnsafeBufferPointer<Double>, at index: Int) -> Double {
        exponent(theta[index + 1], inductive: roles[index + 1] == .inductiveExponent).value
    }

    /// Impedance of `variant` at `w = ln ω` and, when `gradient` is given, `∂Z/∂θ_k` for all 17
    /// entries (zero for the entries the variant fixes). θ must be constrained by the variant.
    @inline(__always)
    static func impedance(w: Double, theta t: UnsafeBufferPointer<Double>, variant: CircuitVariant = .full,
                          gradient g: UnsafeMutablePointer<Complex<Double>>?) -> Complex<Double> {
        let r0 = Complex(Double.exp(t[0]))
        g?[0] = r0
        var z = r0
        // CPE1 (diffusion) and La1 (inductive CPE).
        for offset in [1, 3] {
            let (phi, slope) = exponent(t[offset + 1], inductive: offset == 3)
            let log = Complex<Double>(w, .pi / 2)
            let element = Complex.exp(Complex(t[offset]) - Complex(phi) * log)
            if let g {
                g[offset] = element
                let pinned = offset == 1 ? variant.warburg : variant.inductor
                g[offset + 1] = pinned ? .zero : -element * log * Complex(slope)
            }
            z += element
        }
        // ZARC 1 (inductive loop) and ZARCs 2–4.
        for offset in [5, 8, 11, 14] {
            guard variant.hasZarc(at: offset) else {
                for k in offset..<(offset + 3) { g?[k] = .zero }
                continue
            }
            let (phi, slope) = exponent(t[offset + 2], inductive: offset == 5)
            let log = Complex<Double>(w - t[offset + 1], .pi / 2)
            let u = Complex.exp(Complex(phi) * log)
            let ratio = u / (Complex(1) + u)
            let element = Complex(Double.exp(t[offset])) / (Complex(1) + u)
            if let g {
                g[offset] = element
                g[offset + 1] = element * ratio * Complex(phi)
                g[offset + 2] = -element * ratio * log * Complex(slope)
            }
            z += element
        }
        return z
    }

    /// θ of the original spectrum from θ predicted on the normalised one (`Z̃ = e^{r_a} Z`,
    /// `w̃ = w + w_a`): `r −= r_a`, `w_c −= w_a`, `q −= r_a + φ w_a`; exponents unchanged.
    static func denormalise(_ theta: inout [Double], scale ra: Double, shift wa: Double) {
        let original = theta
        original.withUnsafeBufferPointer { t in
            for (k, role) in roles.enumerated() {
                switch role {
                case .resistance: theta[k] -= ra
                case .characteristicFrequency: theta[k] -= wa
                case .cpeScale: theta[k] -= ra + cpeExponent(t, at: k) * wa
                case .capacitiveExponent, .inductiveExponent: break
                }
            }
        }
    }

    /// The circuit parameters (`Circuit("li-ion")` order and units: Ω, Ω⁻¹sᵅ, H s^(1-1/α), s) from θ
    /// (constrained by `variant`); removed elements get `R = 0`.
    public static func circuitParameters(_ theta: [Double], variant: CircuitVariant = .full) -> [Double] {
        precondition(theta.count == parameterCount)
        let diffusion = exponent(theta[2], inductive: false).value
        let inductive = -exponent(theta[4], inductive: true).value
        var p = [Double.exp(theta[0]), Double.exp(-theta[1]), diffusion, Double.exp(theta[3] / inductive), inductive]
        for offset in [5, 8, 11, 14] {
            p += [variant.hasZarc(at: offset) ? Double.exp(theta[offset]) : 0, Double.exp(-theta[offset + 1]),
                  exponent(theta[offset + 2], inductive: offset == 5).value]
        }
        return p
    }
}

/// The scale/shift that normalises a spectrum (thesis §2.5): after `Z̃ = e^{r_a} Z` and
/// `w̃ = ln ω + w_a`, the mean |Z| is 1 and the |Z|-weighted mean of `w̃` is 0.
public struct SpectrumNormalisation: Sendable, Hashable {
    public var scale: Double
    public var shift: Double

    public init(_ spectrum: Spectrum) {
        var total = 0.0, weighted = 0.0
        for (f, z) in zip(spectrum.frequencies, spectrum.impedance) {
            total += z.length
            weighted += z.length * Double.log(2 * .pi * f)
        }
        scale = -Double.log(total / Double(max(spectrum.count, 1)))
        shift = -weighted / total
    }
}
