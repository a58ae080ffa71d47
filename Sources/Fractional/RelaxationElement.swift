#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ComplexModule
import RealModule

/// One element in series after the cell's ohmic resistance. Current positive
/// into the cell; the element's voltage is its response to that current.
public enum RelaxationElement: Sendable, Hashable {
    /// R ∥ CPE: `Z = R / (1 + R·T·(jω)^α)`, `0 < α ≤ 1`. With `α = 1` it is
    /// an R ∥ C with `C = T` (the integer-order RC branch). In the time domain
    /// `D^α v = (R·i - v)/(R·T)` (Caputo).
    case parallelCPE(r: Double, t: Double, alpha: Double)
    /// Diffusion CPE: `Z = 1 / (Q·(jω)^β)`, `0 < β < 1`; in the time domain
    /// `v = I^β i / Q`. The infinite Warburg element is `β = 1/2, Q = 1/(√2·σ)`.
    case diffusionCPE(q: Double, beta: Double)

    /// The Warburg element `Z = √2·σ / √(jω)`.
    public static func warburg(sigma: Double) -> RelaxationElement {
        .diffusionCPE(q: 1 / (Double(2).squareRoot() * sigma), beta: 0.5)
    }

    /// Whether the parameters describe a physical, stable element.
    public var isValid: Bool {
        switch self {
        case let .parallelCPE(r, t, alpha): r > 0 && t > 0 && alpha > 0 && alpha <= 1 && r.isFinite && t.isFinite
        case let .diffusionCPE(q, beta): q > 0 && q.isFinite && beta > 0 && beta < 1
        }
    }

    /// Impedance at angular frequency ω (rad/s), Ω.
    public func impedance(omega: Double) -> Complex<Double> {
        switch self {
        case let .parallelCPE(r, t, alpha):
            let jwAlpha = Complex(length: pow(omega, alpha), phase: alpha * .pi / 2)
            return Complex(r, 0) / (Complex(1, 0) + Complex(r * t, 0) * jwAlpha)
        case let .diffusionCPE(q, beta):
            return Complex(1, 0) / (Complex(length: pow(omega, beta), phase: beta * .pi / 2) * Complex(q, 0))
        }
    }

    /// Exact voltage at time τ ≥ 0 after a 1 A current step at τ = 0, V (Ω·A).
    public func stepResponse(_ tau: Double) -> Double {
        stepResponse(tau) { z, alpha in MittagLeffler.evaluate(z, alpha: alpha, beta: alpha + 1) }
    }

    /// The same step response with its Mittag-Leffler function tabulated once
    /// (`MittagLeffler.RealFunction`), for code that evaluates it many times.
    public func tabulatedStepResponse() -> @Sendable (Double) -> Double {
        guard case let .parallelCPE(_, _, alpha) = self, alpha < 1 else { return { stepResponse($0) } }
        let table = MittagLeffler.RealFunction(alpha: alpha, beta: alpha + 1)
        return { stepResponse($0) { z, _ in table(z) } }
    }

    /// `mittagLeffler(z, α)` is `E_{α,α+1}(z)`.
    private func stepResponse(_ tau: Double, mittagLeffler: (Double, Double) -> Double) -> Double {
        guard tau > 0 else { return 0 }
        switch self {
        case let .parallelCPE(r, t, alpha):
            if alpha == 1 { return -r * expm1(-tau / (r * t)) }
            // R (1 - E_α(-τ^α/(RT))) = τ^α/T · E_{α,α+1}(-τ^α/(RT)), the second without cancellation.
            let x = pow(tau, alpha)
            return x / t * mittagLeffler(-x / (r * t), alpha)
        case let .diffusionCPE(q, beta):
            return pow(tau, beta) / (q * tgamma(beta + 1))
        }
    }

    /// Voltage at time τ of the free element started from 1 V at τ = 0 (Caputo
    /// initial value), V; 1 at all times for the diffusion element, which has no restoring term.
    public func relaxation(_ tau: Double) -> Double {
        switch self {
        case let .parallelCPE(r, t, alpha):
            if alpha == 1 { return exp(-tau / (r * t)) }
            return MittagLeffler.evaluate(-pow(tau, alpha) / (r * t), alpha: alpha)
        case .diffusionCPE:
            return 1
        }
    }

    /// Relaxation spectrum: the impulse response is `∫₀^∞ K(s) e^(-sτ) ds`,
    /// `K(s) = Im Z(s·e^(-iπ))/π`, positive for these completely monotone elements.
    func spectralDensity(_ s: Double) -> Double {
        switch self {
        case let .parallelCPE(r, t, alpha):
            let sa = pow(s, alpha)
            let rt = r * t
            return r * rt * sa * sin(alpha * .pi) / (.pi * (1 + 2 * rt * sa * cos(alpha * .pi) + rt * rt * sa * sa))
        case let .diffusionCPE(q, beta):
            return sin(beta * .pi) / (.pi * q) * pow(s, -beta)
        }
    }

    /// Rate where the relaxation spectrum has its corner, 1/s.
    var cornerRate: Double {
        switch self {
        case let .parallelCPE(r, t, alpha): pow(1 / (r * t), 1 / alpha)
        case .diffusionCPE: 1
        }
    }
}
