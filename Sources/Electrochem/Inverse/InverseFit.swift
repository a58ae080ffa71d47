import Numerics

/// How `li-ion` spectra are fitted.
public enum FitMethod: String, Sendable, Codable, CaseIterable {
    /// The inverse model's prediction alone.
    case inverse
    /// The inverse model's prediction polished by Levenberg–Marquardt.
    case inverseThenLM = "inverse+lm"
    /// Levenberg–Marquardt from the automatic initial guess.
    case lm
}

/// Network prediction and fit of one spectrum, with the signals the daemon publishes.
public struct InverseFit: Sendable, Codable, Hashable {
    public var method: FitMethod
    public var network: InversePrediction
    /// The fit reported to the user: the network's parameters (`inverse`) or the polished ones.
    public var fit: FitResult
    /// Rescaled residual ρ of `fit` (see `RescaledResidual`).
    public var residual: Double
    /// The spectrum's proper-fit limit on ρ (`InverseModel.properFitLimit`).
    public var limit: Double
    /// Uncertainty signal: RMS over the parameters of the change from network to polished values,
    /// `|ln(p_fit/p_net)|` for magnitudes and `|Δ|` for exponents; 0 for `inverse`.
    public var parameterShift: Double
    /// The polish from the network's answer stayed above the threshold, so LM from the automatic
    /// guess was also run and gave the better fit reported here.
    public var usedAutomaticGuess: Bool
    /// The residual exceeds the proper-fit limit: the spectrum is not a Li-ion spectrum of the
    /// family, or the data are bad. A data-quality event.
    public var abnormal: Bool
}

extension InverseModel {
    /// The network's prediction for the circuit variant (given, or chosen by `auto`), then (for
    /// `inverse+lm`) a Levenberg–Marquardt polish of exactly that variant from it with `options`
    /// (weighting, bounds, iterations; starting values come from the network; the variant's pinned
    /// exponents and removed elements are `fixed` parameters of the `li-ion` circuit, so the fit
    /// reports them as fixed). With `spread` weighting the polish minimises ρ itself, so it can only
    /// lower the network's ρ. Pure and CPU-bound: call it per sweep from a worker thread.
    public func fit(_ spectrum: Spectrum, method: FitMethod = .inverseThenLM, variant choice: VariantChoice = .fixed(.full),
                    options userOptions: FitOptions = FitOptions()) throws(FitFailure) -> InverseFit {
        let circuit = Self.circuit
        var workspace = InverseNetwork.Workspace()
        let prediction = try predict(spectrum, choice: choice, workspace: &workspace)
        var options = userOptions
        options.fixed.merge(prediction.variant.fixedParameters(prediction.parameters)) { given, _ in given }
        let fixed = Set(circuit.parameterNames.indices.filter { options.fixed[circuit.parameterNames[$0]] != nil })
        var start = Self.insideBounds(prediction.parameters, circuit: circuit)
        var polishOptions = options
        polishOptions.starts = 1
        polishOptions.maxIterations = method == .inverse ? 0 : options.maxIterations
        polishOptions.initialGuess = Dictionary(uniqueKeysWithValues: zip(circuit.parameterNames, start))
        var result = try circuit.fit(spectrum, options: polishOptions)
        if method == .inverse {
            result.warnings = ["network prediction, not polished"]
        }
        // The fit reports arcs in canonical order; compare like with like.
        let order = circuit.canonicalPermutation(parameters: start, frequencies: spectrum.frequencies, locked: fixed)
        start = order.map { start[$0] }
        var shift = 0.0
        for (i, parameter) in result.parameters.enumerated() where !fixed.contains(i) {
            let d = circuit.parameterUnits[i].isEmpty ? parameter.value - start[i] : Double.log(parameter.value / start[i])
            shift += d * d
        }
        shift = method == .inverse ? 0 : (shift / Double(max(circuit.parameterCount - fixed.count, 1))).squareRoot()
        var residual = RescaledResidual(spectrum: spectrum, circuit: circuit, parameters: result.parameters.map(\.value)).value
        let limit = properFitLimit(for: spectrum)
        var usedAutomaticGuess = false
        // A polish stuck in a local minimum: the automatic guess gets its chance.
        if method == .inverseThenLM, !(residual <= limit), let alternative = try? circuit.fit(spectrum, options: options) {
            let alternativeResidual = RescaledResidual(spectrum: spectrum, circuit: circuit,
                                                       parameters: alternative.parameters.map(\.value)).value
            if alternativeResidual < residual {
                result = alternative
                residual = alternativeResidual
                usedAutomaticGuess = true
            }
        }
        return InverseFit(method: method, network: prediction, fit: result, residual: residual, limit: limit,
                          parameterShift: shift.isFinite ? shift : .infinity, usedAutomaticGuess: usedAutomaticGuess,
                          abnormal: !(residual <= limit))
    }

    /// The `li-ion` circuit the model predicts for.
    public static let circuit: Circuit = {
        do { return try Circuit(LiIonFamily.circuitName) } catch { preconditionFailure("the li-ion preset must parse: \(error)") }
    }()

    /// Exponents moved just inside the circuit's bounds, where the polish's bound transform is finite.
    static func insideBounds(_ parameters: [Double], circuit: Circuit) -> [Double] {
        zip(parameters, circuit.defaultBounds).map { value, bounds in
            guard bounds.lowerBound.isFinite, bounds.upperBound.isFinite else { return max(value, .leastNormalMagnitude) }
            let margin = 1e-6 * (bounds.upperBound - bounds.lowerBound)
            return min(max(value, bounds.lowerBound + margin), bounds.upperBound - margin)
        }
    }
}
