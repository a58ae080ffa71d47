#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sum-of-exponentials approximation of an element's memory kernel.
///
/// The element's step response is `S(τ) = ∫₀^∞ K(s)/s (1 - e^(-sτ)) ds` with a
/// positive relaxation spectrum `K`. In `x = ln s` the integrand is analytic
/// in a strip of half-width `d`, so the trapezoidal rule with spacing `Δx`
/// converges like `e^(-2πd/Δx)`: each node is one exponential mode with an
/// exact zero-order-hold recursion. Modes faster than `40/minimumStep` have
/// settled (to e^-40) within any step and are lumped into `directGain`;
/// modes slower than `10⁻⁸/horizon` are, over the horizon, pure integrators
/// (`integratorGain`) or negligible. The node count is
/// `O(log(horizon/minimumStep) + log(1/ε))`, so a step costs O(log N).
public struct ExponentialSum: Sendable {
    /// Decay rates of the modes, 1/s.
    public let rates: [Double]
    /// Steady-state gain of each mode, Ω: its step response is `gain·(1 - e^(-rate·τ))`.
    public let gains: [Double]
    /// Gain of the modes that settle within the shortest step, Ω.
    public let directGain: Double
    /// Gain of the modes that act as integrators over the horizon, Ω/s: response `gain·τ`.
    public let integratorGain: Double
    /// Shortest time step the approximation is built for, s.
    public let minimumStep: Double
    /// Longest time the approximation is built for, s.
    public let horizon: Double
    let element: RelaxationElement

    /// - Parameters:
    ///   - tolerance: target quadrature error relative to the element's scale (1e-13 by default).
    public init(element: RelaxationElement, minimumStep: Double = 1e-4, horizon: Double = 1e9, tolerance: Double = 1e-13) {
        self.minimumStep = minimumStep
        self.horizon = horizon
        self.element = element
        if case let .parallelCPE(r, t, alpha) = element, alpha == 1 {
            rates = [1 / (r * t)]
            gains = [r]
            directGain = 0
            integratorGain = 0
            return
        }
        let halfWidth: Double
        switch element {
        // The spectrum's poles sit at Im x = ±π(1/α - 1); as α → 1 the strip (and the spacing)
        // would shrink without bound, so it is floored: above α ≈ 0.98 the stated
        // tolerance is no longer reached (see maximumError()), with at most ~2000 modes.
        case let .parallelCPE(_, _, alpha): halfWidth = max(0.05, min(1.3, 0.8 * .pi * (1 / alpha - 1)))
        case .diffusionCPE: halfWidth = 1.3
        }
        let dx = 2 * .pi * halfWidth / log(1 / tolerance)
        let fast = log(40 / minimumStep)
        let slow = log(1e-8 / horizon)
        let center = log(element.cornerRate)
        var rates: [Double] = []
        var gains: [Double] = []
        var direct = 0.0
        var integrator = 0.0
        // Upward from the corner: modes, then lumped direct gain until the terms vanish.
        var j = 0
        var largest = 0.0
        while true {
            let x = center + Double(j) * dx
            let s = exp(x)
            let c = dx * element.spectralDensity(s)
            largest = max(largest, c)
            if x > fast { direct += c } else if x >= slow { rates.append(s); gains.append(c) }
            // The bound on j only matters for invalid (NaN) parameters: it keeps the loop finite.
            if (x > fast && c < 1e-20 * largest) || j > 20_000 { break }
            j += 1
        }
        // Downward: modes, then the integrator part until it vanishes.
        j = -1
        while true {
            let x = center + Double(j) * dx
            let s = exp(x)
            let c = dx * element.spectralDensity(s)
            if x > fast {
                direct += c
            } else if x >= slow {
                rates.append(s)
                gains.append(c)
            } else {
                guard case .diffusionCPE = element else { break }  // R ∥ CPE: the rest is below 1e-13 R
                integrator += c * s
                if c * s * horizon < 1e-20 * largest { break }
            }
            if j < -20_000 { break }
            j -= 1
        }
        self.rates = rates
        self.gains = gains
        directGain = direct
        integratorGain = integrator
    }

    /// Step response of the approximation at τ ≥ minimumStep.
    public func stepResponse(_ tau: Double) -> Double {
        var sum = directGain + integratorGain * tau
        for k in rates.indices { sum -= gains[k] * expm1(-rates[k] * tau) }
        return sum
    }

    /// Measured worst absolute error of the step response over `[minimumStep, horizon]`
    /// (81 log-spaced points against the exact Mittag-Leffler form), V per A of step.
    public func maximumError() -> Double {
        var worst = 0.0
        let points = 80
        for i in 0...points {
            let tau = minimumStep * pow(horizon / minimumStep, Double(i) / Double(points))
            worst = max(worst, abs(stepResponse(tau) - element.stepResponse(tau)))
        }
        return worst
    }
}

/// Running state of one element driven through its exponential sum: the
/// whole memory of the input history in O(number of modes) numbers.
public struct ElementMemory: Sendable {
    public let element: RelaxationElement
    public let kernel: ExponentialSum
    /// Mode voltages, V.
    private var modes: [Double]
    /// Weights that spread an initial-value change over the modes so that it
    /// relaxes as the element's free response: `E_α(-τ^α/(RT)) = Σ w_k e^(-s_k τ)`
    /// for τ ≥ minimumStep (the lumped fast modes' share has relaxed by then).
    private let relaxationWeights: [Double]
    private var decay: [Double]
    private var decayStep = Double.nan
    private var integrated = 0.0
    /// Initial-value part that never relaxes (diffusion elements).
    private var offset = 0.0
    private var lastCurrent = 0.0

    public init(element: RelaxationElement, minimumStep: Double = 1e-4, horizon: Double = 1e9, tolerance: Double = 1e-13) {
        self.element = element
        kernel = ExponentialSum(element: element, minimumStep: minimumStep, horizon: horizon, tolerance: tolerance)
        modes = Array(repeating: 0, count: kernel.rates.count)
        decay = modes
        if case let .parallelCPE(r, _, _) = element {
            relaxationWeights = kernel.gains.map { $0 / r }
        } else {
            relaxationWeights = kernel.gains.map { _ in 0 }
        }
    }

    /// Number of exponential modes carried.
    public var modeCount: Int { modes.count }

    /// Element voltage now, V.
    public var voltage: Double {
        var sum = offset + integrated + kernel.directGain * lastCurrent
        for k in modes.indices { sum += modes[k] }
        return sum
    }

    /// Advances by `step` seconds with `current` (A) held constant over it. Exact for the kernel's modes.
    public mutating func advance(by step: Double, current: Double) {
        if step != decayStep {
            for k in decay.indices { decay[k] = exp(-kernel.rates[k] * step) }
            decayStep = step
        }
        for k in modes.indices {
            modes[k] = decay[k] * modes[k] + kernel.gains[k] * (1 - decay[k]) * current
        }
        integrated += kernel.integratorGain * step * current
        lastCurrent = current
    }

    /// After `advance(by:current:)`: the fraction of a voltage change made at the start
    /// of that step left at its end, `E_α(-h^α/(RT))` for an R ∥ CPE (from the cached decays), 1 for diffusion.
    public var lastStepRelaxation: Double {
        guard case .parallelCPE = element else { return 1 }
        var sum = 0.0
        for k in relaxationWeights.indices { sum += relaxationWeights[k] * decay[k] }
        return sum
    }

    /// Changes the element voltage by `delta` as a new initial value: it then
    /// relaxes with the element's own memory instead of persisting or vanishing.
    public mutating func shiftVoltage(by delta: Double) {
        guard case .parallelCPE = element else { offset += delta; return }
        for k in modes.indices { modes[k] += delta * relaxationWeights[k] }
    }
}
