import Numerics

extension Complex<Double> {
    /// `1/z` without the overflow-safe rescaling of the general division, which costs more than
    /// the rest of an element's evaluation; impedances here are far from Double's limits.
    @inline(__always)
    var inverse: Complex<Double> {
        let norm = real * real + imaginary * imaginary
        return Complex(real / norm, -imaginary / norm)
    }
}

/// The circuit elements, with the formulas of impedance.py where both have them.
/// `ω = 2πf`; every formula is listed in docs/impedance.md.
public enum ElementKind: String, Sendable, CaseIterable, Codable {
    /// Resistor `Z = R`.
    case R
    /// Capacitor `Z = 1/(jωC)`.
    case C
    /// Inductor `Z = jωL`.
    case L
    /// Constant phase element `Z = 1/(Q (jω)^α)`.
    case CPE
    /// Constant phase inductor (inductive CPE) `Z = (L jω)^α`, i.e. a CPE of exponent `-α`.
    case La
    /// Semi-infinite Warburg `Z = A_W (1 - j)/√ω`.
    case W
    /// Open (finite-space) Warburg `Z = Z0 coth(√(jωτ))/√(jωτ)`.
    case Wo
    /// Short (finite-length) Warburg `Z = Z0 tanh(√(jωτ))/√(jωτ)`.
    case Ws
    /// Gerischer `Z = R_G/√(1 + jω t_G)`.
    case G
    /// RC element with time constant `Z = R/(1 + jωτ)` (the Lin-KK element).
    case K
    /// ZARC (R parallel to a CPE) `Z = R/(1 + (jωτ)^γ)`; `γ < 0` gives an inductive loop.
    case Zarc

    public var parameterCount: Int {
        switch self {
        case .R, .C, .L, .W: 1
        case .CPE, .La, .Wo, .Ws, .G, .K: 2
        case .Zarc: 3
        }
    }

    /// SI units of each parameter, in order.
    public var units: [String] {
        switch self {
        case .R: ["Ω"]
        case .C: ["F"]
        case .L: ["H"]
        case .W: ["Ω s^-1/2"]
        case .CPE: ["Ω^-1 s^α", ""]
        case .La: ["H s^(1-1/α)", ""]
        case .Wo, .Ws, .G, .K: ["Ω", "s"]
        case .Zarc: ["Ω", "s", ""]
        }
    }

    /// Default bounds of each parameter. Exponents are bounded; everything else is positive.
    public var defaultBounds: [ClosedRange<Double>] {
        switch self {
        case .CPE, .La: [0...Double.infinity, 0...1]
        case .Zarc: [0...Double.infinity, 0...Double.infinity, 0...1]
        default: Array(repeating: 0...Double.infinity, count: parameterCount)
        }
    }

    /// Impedance at angular frequency `omega` and, when `derivatives` is given,
    /// `∂Z/∂p_i` for each parameter written into it. `p` holds this element's parameters.
    @inline(__always)
    func evaluate(omega w: Double, _ p: UnsafeBufferPointer<Double>,
                  derivatives d: UnsafeMutableBufferPointer<Complex<Double>>?) -> Complex<Double> {
        let j = Complex<Double>(0, 1)
        switch self {
        case .R:
            d?[0] = 1
            return Complex(p[0])
        case .C:
            let z = Complex<Double>(0, -1 / (w * p[0]))
            d?[0] = -z * Complex(1 / p[0])
            return z
        case .L:
            d?[0] = Complex(0, w)
            return Complex(0, w * p[0])
        case .W:
            let unit = Complex<Double>(1, -1) * Complex(1 / w.squareRoot())
            d?[0] = unit
            return unit * Complex(p[0])
        case .CPE:
            // (jω)^α = ω^α e^{jαπ/2}; ln(jω) = ln ω + jπ/2.
            let logJw = Complex<Double>(.log(w), .pi / 2)
            let z = (Complex(p[0]) * Complex.exp(Complex(p[1]) * logJw)).inverse
            if let d {
                d[0] = -z * Complex(1 / p[0])
                d[1] = -z * logJw
            }
            return z
        case .La:
            let logLjw = Complex<Double>(.log(p[0] * w), .pi / 2)
            let z = Complex.exp(Complex(p[1]) * logLjw)
            if let d {
                d[0] = z * Complex(p[1] / p[0])
                d[1] = z * logLjw
            }
            return z
        case .Wo, .Ws:
            let x = Complex.sqrt(Complex(0, w * p[1]))
            let t = Complex.tanh(x)
            let z0 = Complex(p[0])
            let two = Complex<Double>(2 * p[1])
            if self == .Wo {
                let shape = (x * t).inverse
                if let d {
                    // d/dτ [coth x / x] · Z0 = Z0 (−csch²x − coth x / x)/(2τ), csch² = coth² − 1.
                    let coth = t.inverse
                    d[0] = shape
                    d[1] = z0 * (Complex(1) - coth * coth - coth * x.inverse) * two.inverse
                }
                return z0 * shape
            } else {
                let shape = t * x.inverse
                if let d {
                    // d/dτ [tanh x / x] · Z0 = Z0 (sech²x − tanh x / x)/(2τ), sech² = 1 − tanh².
                    d[0] = shape
                    d[1] = z0 * (Complex(1) - t * t - shape) * two.inverse
                }
                return z0 * shape
            }
        case .G:
            let a = Complex<Double>(1, w * p[1])
            let shape = Complex.sqrt(a).inverse
            if let d {
                d[0] = shape
                d[1] = -Complex(p[0]) * shape * j * Complex(w) * (Complex(2) * a).inverse
            }
            return Complex(p[0]) * shape
        case .K:
            let denominator = Complex<Double>(1, w * p[1])
            let shape = denominator.inverse
            if let d {
                d[0] = shape
                d[1] = -Complex(p[0]) * shape * shape * Complex(0, w)
            }
            return Complex(p[0]) * shape
        case .Zarc:
            let logJwt = Complex<Double>(.log(w * p[1]), .pi / 2)
            let u = Complex.exp(Complex(p[2]) * logJwt)
            let shape = (Complex(1) + u).inverse
            if let d {
                let common = -Complex(p[0]) * shape * shape * u
                d[0] = shape
                d[1] = common * Complex(p[2] / p[1])
                d[2] = common * logJwt
            }
            return Complex(p[0]) * shape
        }
    }
}
