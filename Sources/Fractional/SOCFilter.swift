/// Tuning of the SOC filters. All noise figures are one standard deviation, SI units.
public struct FilterTuning: Sendable, Hashable {
    /// Voltage measurement noise plus model error, V.
    public var voltageNoise: Double = 0.01
    /// White noise of each current sample, A (drives the SOC uncertainty).
    public var currentNoise: Double = 0.02
    /// Random-walk intensity of each element voltage, V/√s (model error in the dynamics).
    public var polarizationNoise: Double = 2e-4
    /// Uncertainty of the initial SOC.
    public var initialSOCSigma: Double = 0.25
    /// Offset error of the OCV table, V (0, the default, takes the table as exact). A considered
    /// model error (see `SOCErrorBudget`): it enters the reported σ, not the gains or estimates.
    public var ocvSigma: Double = 0
    /// Error of the series resistance R0, Ω (0, the default, takes R0 as exact). A considered model
    /// error whose voltage grows with the current (`δR0·i`), so it weighs most on hard cycles.
    public var resistanceSigma: Double = 0
    /// Estimate a constant current-sensor bias as a state.
    public var estimateBias = false
    /// Initial uncertainty of that bias, A.
    public var biasSigma: Double = 0.05
    /// Random-walk intensity of the bias, A/√s.
    public var biasDrift: Double = 1e-5
    /// Relative uncertainty of the capacity (0, the default, takes it as exact). When > 0 a
    /// capacity-scale error is a state, so the SOC σ grows with charge throughput. Off by
    /// default: on the Panasonic drive cycles it learns model error as capacity and worsens the SOC.
    public var capacitySigma: Double = 0

    public init() {}
}

/// One filter output.
public struct SOCEstimate: Sendable, Hashable {
    public var soc: Double
    /// One standard deviation of `soc`.
    public var socSigma: Double
    /// Voltage the model predicted for this sample before seeing it, V.
    public var predictedVoltage: Double
    /// Estimated current-sensor bias, A (0 when not estimated); measured = true + bias.
    public var currentBias: Double
    /// Standard deviation of the innovation (measured − predicted voltage) the filter expected,
    /// √(H P Hᵀ + R), V; NaN when the filter does not correct (coulomb counting).
    public var innovationSigma: Double
    /// What `socSigma` is made of, so it can be recomputed for other model-error sizes.
    public var errorBudget: SOCErrorBudget

    public init(soc: Double, socSigma: Double, predictedVoltage: Double, currentBias: Double, innovationSigma: Double = .nan,
                errorBudget: SOCErrorBudget? = nil) {
        self.soc = soc
        self.socSigma = socSigma
        self.predictedVoltage = predictedVoltage
        self.currentBias = currentBias
        self.innovationSigma = innovationSigma
        self.errorBudget = errorBudget ?? SOCErrorBudget(filterSigma: socSigma, perOhm: 0, perVolt: 0)
    }
}

/// The SOC error of the filter split into what it estimates and what it only considers.
///
/// The filter's own covariance assumes white voltage noise. Real model errors are not white: an
/// error of R0 or an offset of the OCV table persists, so the corrections the filter makes with
/// its voltage innovations carry part of it into the SOC, and no later sample averages it away.
/// These are treated as *considered* parameters (a consider-covariance analysis, after Schmidt,
/// with the nominal filter's gains): unknown constants that are not estimated; the filter
/// propagates the sensitivity of its state error to each through its own transitions and gains
/// (`s ← F s`, then `s ← s + K (∂v/∂p − H s)`). The SOC's share of a parameter error δp is
/// `sensitivity·δp`, so
/// `σ² = filterSigma² + (perOhm·resistanceSigma)² + (perVolt·ocvSigma)²`.
public struct SOCErrorBudget: Sendable, Hashable {
    /// σ of the SOC from the filter's own covariance (white noise only).
    public var filterSigma: Double
    /// SOC error per ohm of R0 error, 1/Ω.
    public var perOhm: Double
    /// SOC error per volt of OCV-table offset, 1/V.
    public var perVolt: Double

    public init(filterSigma: Double, perOhm: Double, perVolt: Double) {
        self.filterSigma = filterSigma
        self.perOhm = perOhm
        self.perVolt = perVolt
    }

    /// The SOC σ for the given sizes of the considered model errors (Ω, V).
    public func sigma(resistanceSigma: Double, ocvSigma: Double) -> Double {
        let resistance = perOhm * resistanceSigma, ocv = perVolt * ocvSigma
        return (filterSigma * filterSigma + resistance * resistance + ocv * ocv).squareRoot()
    }
}

/// Extended Kalman filter on SOC and the element voltages of a `CellModel`,
/// with OCV(SOC) as the output nonlinearity.
///
/// The element voltages keep their whole memory through their exponential
/// sums; a Kalman correction of an element voltage enters as a new Caputo
/// initial value and relaxes with the element's own free response, and the
/// linearised transition over a step of length h is that free response
/// (`E_α(-h^α/(RT))` for an R ∥ CPE, `e^(-h/RC)` for an RC). The same code is
/// the integer-order EKF when every branch has α = 1, and plain coulomb
/// counting when `correct` is false. Optional states: a current-sensor bias and
/// a capacity-scale error (which makes the SOC σ grow with charge throughput).
///
/// Fixed-size state; no allocation after `init`.
public struct SOCFilter: Sendable {
    public let model: CellModel
    public let tuning: FilterTuning
    /// Use the voltage (EKF); false gives coulomb counting with propagated uncertainty.
    public let correct: Bool
    private var simulator: CellSimulator
    private var bias = 0.0
    /// Relative capacity-scale error: the SOC moves by (1 + ε) times what the model capacity gives.
    private var capacityError = 0.0
    /// Time since the filter started, s: a constant bias error has acted on the elements that long.
    private var elapsed = 0.0
    private let size: Int
    private let biasIndex: Int
    private let capacityIndex: Int
    private var covariance: [Double]
    private var transition: [Double]
    private var scratch: [Double]
    private var gain: [Double]
    private var h: [Double]
    /// Each element's step response (tabulated: evaluated every sample when the bias is a state).
    private let stepResponses: [@Sendable (Double) -> Double]
    /// State-error sensitivities to the considered model errors (`SOCErrorBudget`): R0, then OCV offset.
    private var perOhm: [Double]
    private var perVolt: [Double]
    /// Scratch for propagating a sensitivity through F.
    private var propagated: [Double]

    public init(model: CellModel, tuning: FilterTuning = FilterTuning(), initialSOC: Double, correct: Bool = true,
                minimumStep: Double = 1e-3, horizon: Double = 1e9) {
        self.model = model
        self.tuning = tuning
        self.correct = correct
        simulator = CellSimulator(model: model, initialSOC: initialSOC, minimumStep: minimumStep, horizon: horizon)
        let elements = model.elements.count
        biasIndex = tuning.estimateBias ? 1 + elements : -1
        capacityIndex = tuning.capacitySigma > 0 ? 1 + elements + (tuning.estimateBias ? 1 : 0) : -1
        size = 1 + elements + (tuning.estimateBias ? 1 : 0) + (capacityIndex >= 0 ? 1 : 0)
        covariance = Array(repeating: 0, count: size * size)
        covariance[0] = tuning.initialSOCSigma * tuning.initialSOCSigma
        if biasIndex >= 0 { covariance[biasIndex * size + biasIndex] = tuning.biasSigma * tuning.biasSigma }
        if capacityIndex >= 0 { covariance[capacityIndex * size + capacityIndex] = tuning.capacitySigma * tuning.capacitySigma }
        transition = covariance
        scratch = covariance
        gain = Array(repeating: 0, count: size)
        h = gain
        perOhm = gain
        perVolt = gain
        propagated = gain
        stepResponses = tuning.estimateBias ? model.elements.map { $0.tabulatedStepResponse() } : []
    }

    public var soc: Double { simulator.soc }
    /// Reported SOC σ: the filter's own plus the considered model errors' share.
    public var socSigma: Double { errorBudget.sigma(resistanceSigma: tuning.resistanceSigma, ocvSigma: tuning.ocvSigma) }
    public var errorBudget: SOCErrorBudget {
        SOCErrorBudget(filterSigma: covariance[0].squareRoot(), perOhm: perOhm[0], perVolt: perVolt[0])
    }
    public var currentBias: Double { bias }

    /// Advances over `step` seconds with `heldCurrent` (the previous sample's current, A) and
    /// then takes the new sample (`voltage` V at `current` A).
    public mutating func update(step: Double, heldCurrent: Double, voltage: Double, current: Double) -> SOCEstimate {
        if step > 0 { predict(step: step, heldCurrent: heldCurrent) }
        let predicted = simulator.voltage(current: current - bias)
        let innovationSigma = correct ? measure(voltage: voltage, predicted: predicted, current: current - bias) : .nan
        let budget = errorBudget
        return SOCEstimate(soc: simulator.soc, socSigma: budget.sigma(resistanceSigma: tuning.resistanceSigma, ocvSigma: tuning.ocvSigma),
                           predictedVoltage: predicted, currentBias: bias, innovationSigma: innovationSigma, errorBudget: budget)
    }

    private mutating func predict(step: Double, heldCurrent: Double) {
        let k = model.socPerCoulomb
        let current = heldCurrent - bias
        simulator.advance(by: step, current: current)
        simulator.correct(soc: current * step * k * capacityError)
        // F: identity, element decays on the diagonal, bias couplings in the last column.
        for i in transition.indices { transition[i] = 0 }
        transition[0] = 1
        elapsed += step
        for e in simulator.memories.indices {
            let row = 1 + e
            transition[row * size + row] = simulator.memories[e].lastStepRelaxation
        }
        if biasIndex >= 0 {
            transition[biasIndex] = -step * k * (1 + capacityError)
            transition[biasIndex * size + biasIndex] = 1
        }
        if capacityIndex >= 0 {
            transition[capacityIndex] = current * step * k
            transition[capacityIndex * size + capacityIndex] = 1
        }
        // P ← F P Fᵀ + Q
        for i in 0..<size {
            for j in 0..<size {
                var sum = 0.0
                for m in 0..<size { sum += transition[i * size + m] * covariance[m * size + j] }
                scratch[i * size + j] = sum
            }
        }
        for i in 0..<size {
            for j in 0..<size {
                var sum = 0.0
                for m in 0..<size { sum += scratch[i * size + m] * transition[j * size + m] }
                covariance[i * size + j] = sum
            }
        }
        let socNoise = tuning.currentNoise * step * k
        covariance[0] += socNoise * socNoise
        for e in simulator.memories.indices {
            covariance[(1 + e) * size + 1 + e] += tuning.polarizationNoise * tuning.polarizationNoise * step
        }
        if biasIndex >= 0 { covariance[biasIndex * size + biasIndex] += tuning.biasDrift * tuning.biasDrift * step }
        Self.propagate(&perOhm, through: transition, scratch: &propagated)
        Self.propagate(&perVolt, through: transition, scratch: &propagated)
    }

    /// s ← F s (`scratch` has the state's size and is overwritten).
    private static func propagate(_ sensitivity: inout [Double], through transition: [Double], scratch: inout [Double]) {
        let size = sensitivity.count
        for i in 0..<size {
            var sum = 0.0
            for m in 0..<size { sum += transition[i * size + m] * sensitivity[m] }
            scratch[i] = sum
        }
        for i in 0..<size { sensitivity[i] = scratch[i] }
    }

    /// s ← s + K (∂v/∂p − H s): the correction takes the considered error's voltage, less what the
    /// state error already explains, into the state (s: estimate − truth per unit of the error).
    private func absorb(_ sensitivity: inout [Double], voltagePerUnit: Double) {
        var unexplained = voltagePerUnit
        for i in 0..<size { unexplained -= h[i] * sensitivity[i] }
        for i in 0..<size { sensitivity[i] += gain[i] * unexplained }
    }

    /// Corrects the state with the new voltage (taken at `current`, A); returns the innovation's expected σ, V.
    private mutating func measure(voltage: Double, predicted: Double, current: Double) -> Double {
        for i in h.indices { h[i] = 1 }
        h[0] = model.ocv.slope(at: simulator.soc)
        if capacityIndex >= 0 { h[capacityIndex] = 0 }
        if biasIndex >= 0 {
            // A constant bias error δb has shifted each element by -δb·S(elapsed) (its whole step
            // response, not a one-step Markov approximation, which overstates a fractional
            // integrator's accumulation) and the ohmic drop by -δb·R0.
            var sensitivity = -model.seriesResistance
            for stepResponse in stepResponses { sensitivity -= stepResponse(elapsed) }
            h[biasIndex] = sensitivity
        }
        // S = H P Hᵀ + R, K = P Hᵀ / S
        var s = tuning.voltageNoise * tuning.voltageNoise
        for i in 0..<size {
            var row = 0.0
            for j in 0..<size { row += covariance[i * size + j] * h[j] }
            gain[i] = row
            s += h[i] * row
        }
        let innovation = voltage - predicted
        for i in 0..<size { gain[i] /= s }
        simulator.correct(soc: gain[0] * innovation)
        for e in 0..<model.elements.count { simulator.shiftElement(e, by: gain[1 + e] * innovation) }
        if biasIndex >= 0 { bias += gain[biasIndex] * innovation }
        if capacityIndex >= 0 { capacityError += gain[capacityIndex] * innovation }
        absorb(&perOhm, voltagePerUnit: current)
        absorb(&perVolt, voltagePerUnit: 1)
        // P ← P - K S Kᵀ (symmetric form of (I - K H) P)
        for i in 0..<size {
            for j in 0..<size { covariance[i * size + j] -= gain[i] * gain[j] * s }
        }
        return s.squareRoot()
    }
}

extension CellSimulator {
    /// Adds `delta` to the SOC (a filter correction).
    public mutating func correct(soc delta: Double) { soc += delta }

    /// Shifts element `index`'s voltage by `delta` V as a new initial value.
    public mutating func shiftElement(_ index: Int, by delta: Double) { memories[index].shiftVoltage(by: delta) }
}
