import Numerics

/// A trained inverse model: maps a Li-ion impedance spectrum straight to the parameters of the
/// `li-ion` circuit, with no initial guess. Immutable and `Sendable`; `predict` is pure and may run
/// on any thread (about 0.2 ms per sweep on one core, CPU-bound).
public struct InverseModel: Sendable, Hashable {
    public static let formatVersion = 2
    public var network: InverseNetwork
    /// Prior mean of θ in normalised coordinates; the network predicts deviations from it.
    public var priorMean: [Double]
    /// Rescaled residual below which a spectrum counts as properly fitted.
    public var properFitThreshold: Double
    /// Free-form description of how the model was trained (command, seed, steps, data).
    public var recipe: [String: String]

    public init(network: InverseNetwork, priorMean: [Double] = InverseModel.defaultPriorMean,
                properFitThreshold: Double = InverseModel.defaultThreshold, recipe: [String: String] = [:]) {
        precondition(priorMean.count == LiIonFamily.parameterCount)
        self.network = network
        self.priorMean = priorMean
        self.properFitThreshold = properFitThreshold
        self.recipe = recipe
    }

    /// Shape part of "properly fitted": rescaled residual ρ ≤ 0.1, i.e. the RMS misfit is at most a
    /// tenth of the spectrum's own spread in Re Z and Im Z (see `properFitLimit`).
    public static let defaultThreshold = 0.1

    /// Measurement noise the proper-fit limit allows for: 2 % of |Z| on each part of every point,
    /// the upper end of the noise the model is evaluated with.
    public static let noiseAllowance = 0.02
    /// How far above the noise floor a proper fit may lie: ρ at the true parameters scatters around
    /// the floor by about 1/√(2N) relatively, and the allowance is 1.5 times that floor.
    public static let noiseMargin = 1.5

    /// A spectrum is properly fitted when ρ ≤ this limit: the misfit is at most `properFitThreshold`
    /// of the spectrum's spread, or no larger than what noise of `noiseAllowance` explains. The
    /// second part matters where noise is large against the spread (a spectrum dominated by R0),
    /// which the true parameters themselves could not fit to ρ ≤ 0.1.
    public func properFitLimit(for spectrum: Spectrum) -> Double {
        max(properFitThreshold, Self.noiseMargin * RescaledResidual.noiseFloor(of: spectrum, level: Self.noiseAllowance))
    }

    /// Prior mean in normalised coordinates (mean |Z| = 1, |Z|-weighted mean of ln ω = 0): a
    /// typical 18650 spectrum: R0 ≈ 0.5, a Warburg-like tail, an inductance, three arcs ordered in
    /// frequency and a small inductive loop.
    public static let defaultPriorMean: [Double] = [
        -0.7,
        -3.5, 0,
        -9, 0,
        -4, 7, 0.5,
        -2.3, -2, 1.4,
        -2.3, 1, 1.4,
        -2.3, 4, 1.4,
    ]
    /// Prior spread of each entry of θ (for the prior penalty).
    static let priorSpread: [Double] = [
        2,
        3, 1.5,
        4, 1.5,
        3, 4, 1.5,
        3, 4, 1.5,
        3, 4, 1.5,
        3, 4, 1.5,
    ]

    /// Network input for a spectrum: points sorted by frequency, `[w̃, Re Z̃, Im Z̃, 1, switches…]` each.
    static func input(_ spectrum: Spectrum, normalisation n: SpectrumNormalisation, variant: CircuitVariant = .full) -> [Double] {
        let order = spectrum.frequencies.indices.sorted { spectrum.frequencies[$0] < spectrum.frequencies[$1] }
        let factor = Double.exp(n.scale)
        let switches = variant.switches
        var input: [Double] = []
        input.reserveCapacity(order.count * InverseNetwork.inputs)
        for k in order {
            let z = spectrum.impedance[k]
            input += [Double.log(2 * .pi * spectrum.frequencies[k]) + n.shift, z.real * factor, z.imaginary * factor, 1]
            input += switches
        }
        return input
    }

    /// θ in normalised coordinates for a prepared input, constrained by the variant.
    func normalisedTheta(_ input: [Double], points: Int, variant: CircuitVariant = .full,
                         workspace: inout InverseNetwork.Workspace) -> [Double] {
        input.withUnsafeBufferPointer { network.forward($0, points: points, workspace: &workspace) }
        var theta = zip(priorMean, workspace.lastOutput).map { $0 + $1 }
        variant.constrain(&theta)
        return theta
    }

    /// Parameters of the `li-ion` circuit predicted for a spectrum and a variant (removed elements
    /// get `R = 0`, pinned exponents their fixed values), with the reconstruction error.
    public func predict(_ spectrum: Spectrum, variant: CircuitVariant = .full) throws(FitFailure) -> InversePrediction {
        var workspace = InverseNetwork.Workspace()
        return try predict(spectrum, variant: variant, workspace: &workspace)
    }

    /// As `predict(_:variant:)`, reusing activation buffers across calls (one workspace per thread).
    public func predict(_ spectrum: Spectrum, variant: CircuitVariant = .full,
                        workspace: inout InverseNetwork.Workspace) throws(FitFailure) -> InversePrediction {
        if let problem = spectrum.validated() { throw FitFailure(reason: problem) }
        guard spectrum.count >= 2 else { throw FitFailure(reason: "the spectrum needs at least 2 points; it has \(spectrum.count)") }
        let normalisation = SpectrumNormalisation(spectrum)
        guard normalisation.scale.isFinite, normalisation.shift.isFinite else {
            throw FitFailure(reason: "the spectrum's impedance is zero everywhere")
        }
        var theta = normalisedTheta(Self.input(spectrum, normalisation: normalisation, variant: variant),
                                    points: spectrum.count, variant: variant, workspace: &workspace)
        LiIonFamily.denormalise(&theta, scale: normalisation.scale, shift: normalisation.shift)
        let residual = RescaledResidual(spectrum: spectrum, theta: theta, variant: variant)
        return InversePrediction(variant: variant, theta: theta, parameters: LiIonFamily.circuitParameters(theta, variant: variant),
                                 reconstructionError: residual.value)
    }

    /// The prediction for `choice`: the given variant, or for `auto` the network run on all 24
    /// variants and the one with the fewest free parameters whose ρ is within the spectrum's
    /// proper-fit limit (lowest ρ among those), else the lowest ρ of all.
    public func predict(_ spectrum: Spectrum, choice: VariantChoice,
                        workspace: inout InverseNetwork.Workspace) throws(FitFailure) -> InversePrediction {
        if case .fixed(let variant) = choice { return try predict(spectrum, variant: variant, workspace: &workspace) }
        var candidates: [InversePrediction] = []
        for variant in CircuitVariant.all { candidates.append(try predict(spectrum, variant: variant, workspace: &workspace)) }
        let limit = properFitLimit(for: spectrum)
        let proper = candidates.filter { $0.reconstructionError <= limit }
        let simplest = proper.map(\.variant.freeParameterCount).min()
        let pool = simplest.map { count in proper.filter { $0.variant.freeParameterCount == count } } ?? candidates
        guard let best = pool.min(by: { !($0.reconstructionError >= $1.reconstructionError) }) else {
            preconditionFailure("24 variants give 24 candidates")
        }
        return best
    }
}

/// What the network says about one spectrum.
public struct InversePrediction: Sendable, Hashable, Codable {
    /// The circuit variant the network was asked for (or chose, with `auto`).
    public var variant: CircuitVariant
    /// Unconstrained parameters (see `LiIonFamily`), original units.
    public var theta: [Double]
    /// Parameters of `Circuit("li-ion")`, in its order and units.
    public var parameters: [Double]
    /// Rescaled residual ρ of the network's parameters (see `RescaledResidual`).
    public var reconstructionError: Double
}

/// `ρ = √(Σ_i [(ΔRe_i/s_Re)² + (ΔIm_i/s_Im)²] / 2N)`: the RMS misfit relative to the spectrum's own
/// spread (population standard deviation) of Re Z and of Im Z. Invariant under scaling of Z and
/// shifting of frequency, so comparable across cells; the training loss is ρ² before penalties.
public struct RescaledResidual: Sendable {
    public let value: Double

    /// Spread of the real and imaginary parts, floored so a flat part cannot divide by zero.
    static func spreads(_ z: [Complex<Double>]) -> (real: Double, imag: Double) {
        let n = Double(z.count)
        let meanRe = z.reduce(0) { $0 + $1.real } / n, meanIm = z.reduce(0) { $0 + $1.imaginary } / n
        let re = (z.reduce(0) { $0 + ($1.real - meanRe) * ($1.real - meanRe) } / n).squareRoot()
        let im = (z.reduce(0) { $0 + ($1.imaginary - meanIm) * ($1.imaginary - meanIm) } / n).squareRoot()
        let floor = 1e-3 * max(re, im, .leastNormalMagnitude)
        return (max(re, floor), max(im, floor))
    }

    /// ρ that noise alone leaves at the true parameters (root of its expected square) when each part
    /// of every point carries Gaussian noise of standard deviation `level·|Z|`:
    /// `level · √(Σ_i |Z_i|² (1/s_Re² + 1/s_Im²) / 2N)`.
    public static func noiseFloor(of spectrum: Spectrum, level: Double) -> Double {
        let (sRe, sIm) = spreads(spectrum.impedance)
        let power = spectrum.impedance.reduce(0) { $0 + $1.lengthSquared }
        return level * (power * (1 / (sRe * sRe) + 1 / (sIm * sIm)) / Double(2 * max(spectrum.count, 1))).squareRoot()
    }

    public init(spectrum: Spectrum, model: [Complex<Double>]) {
        let (sRe, sIm) = Self.spreads(spectrum.impedance)
        var sum = 0.0
        for (m, z) in zip(model, spectrum.impedance) {
            let dr = (m.real - z.real) / sRe, di = (m.imaginary - z.imaginary) / sIm
            sum += dr * dr + di * di
        }
        let value = (sum / Double(2 * spectrum.count)).squareRoot()
        self.value = value.isFinite ? value : .infinity
    }

    init(spectrum: Spectrum, theta: [Double], variant: CircuitVariant = .full) {
        let model = theta.withUnsafeBufferPointer { t in
            spectrum.frequencies.map { LiIonFamily.impedance(w: Double.log(2 * .pi * $0), theta: t, variant: variant, gradient: nil) }
        }
        self.init(spectrum: spectrum, model: model)
    }

    public init(spectrum: Spectrum, circuit: Circuit, parameters: [Double]) {
        self.init(spectrum: spectrum, model: circuit.impedance(parameters: parameters, frequencies: spectrum.frequencies))
    }
}
