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
    /// The polish from the network's answer stayed above the limit or left systematic residuals
    /// (`reseedCorrelation`), so LM from the automatic guesses was also run, and it gave the better
    /// fit reported here.
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
        func polish(from start: [Double]) throws(FitFailure) -> FitResult {
            var polishOptions = options
            polishOptions.starts = 1
            polishOptions.maxIterations = method == .inverse ? 0 : options.maxIterations
            polishOptions.initialGuess = Dictionary(uniqueKeysWithValues: zip(circuit.parameterNames, start))
            return try circuit.fit(spectrum, options: polishOptions)
        }
        func rho(_ fit: FitResult) -> Double {
            RescaledResidual(spectrum: spectrum, circuit: circuit, parameters: fit.parameters.map(\.value)).value
        }
        var start = Self.insideBounds(prediction.parameters, circuit: circuit, margin: Self.exactStartMargin)
        var result = try polish(from: start)
        if method == .inverse {
            result.warnings = ["network prediction, not polished"]
        }
        var residual = rho(result)
        let limit = properFitLimit(for: spectrum)
        var usedAutomaticGuess = false
        // A polish stuck in a local minimum (above the limit, or leaving a systematic misfit whose
        // residuals run in long same-signed stretches) gets a second chance: from the network's
        // answer with its exponents freed from their bounds, and LM from the automatic guesses.
        if method == .inverseThenLM, !(residual <= limit) || Self.residualCorrelation(result, spectrum) > Self.reseedCorrelation {
            // Where no exponent sits within the wider margin the freed start is the same start, and
            // LM would repeat the first polish exactly.
            let freedStart = Self.insideBounds(prediction.parameters, circuit: circuit, margin: Self.freedStartMargin)
            let freed = freedStart == start ? nil : try? polish(from: freedStart)
            let automatic = try? circuit.fit(spectrum, options: options)
            for (alternative, isAutomatic) in [(freed, false), (automatic, true)] {
                guard let alternative else { continue }
                let alternativeResidual = rho(alternative)
                if alternativeResidual < residual {
                    result = alternative
                    residual = alternativeResidual
                    usedAutomaticGuess = isAutomatic
                }
            }
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
        return InverseFit(method: method, network: prediction, fit: result, residual: residual, limit: limit,
                          parameterShift: shift.isFinite ? shift : .infinity, usedAutomaticGuess: usedAutomaticGuess,
                          abnormal: !(residual <= limit))
    }

    /// The `li-ion` circuit the model predicts for.
    public static let circuit: Circuit = {
        do { return try Circuit(LiIonFamily.circuitName) } catch { preconditionFailure("the li-ion preset must parse: \(error)") }
    }()

    /// Lag-1 autocorrelation above which a polished fit's residuals count as systematic. Noise alone
    /// gives about 0 ± 1/√(2N) (≈ 0.1 at 50 points); a misfit arc gives 0.5–1.
    static let reseedCorrelation = 0.2

    /// Lag-1 autocorrelation over frequency of the fit's residuals, each part scaled by the
    /// spectrum's spread of that part (as in ρ), the real and imaginary sequences pooled.
    static func residualCorrelation(_ fit: FitResult, _ spectrum: Spectrum) -> Double {
        let (sRe, sIm) = RescaledResidual.spreads(spectrum.impedance)
        let re = fit.residuals.map { $0.real / sRe }, im = fit.residuals.map { $0.imag / sIm }
        var lagged = 0.0, power = 0.0
        for part in [re, im] {
            for k in part.indices {
                power += part[k] * part[k]
                if k + 1 < part.count { lagged += part[k] * part[k + 1] }
            }
        }
        return power > 0 ? lagged / power : 0
    }

    /// Where, as a share of a two-sided bound's width, the polish starts an exponent the network put
    /// at or beyond that bound. LM's logistic bound transform has a slope proportional to the
    /// distance from the bound: the first polish starts just inside (`exactStartMargin`), which
    /// keeps the network's answer but pins such an exponent; the second chance starts 2 % inside
    /// (`freedStartMargin`), where it can move.
    static let exactStartMargin = 1e-6
    static let freedStartMargin = 0.02

    /// The network's parameters as a polish start: two-sided-bounded exponents moved `margin` of
    /// their bounds' width inside, magnitudes kept positive.
    static func insideBounds(_ parameters: [Double], circuit: Circuit, margin: Double) -> [Double] {
        zip(parameters, circuit.defaultBounds).map { value, bounds in
            guard bounds.lowerBound.isFinite, bounds.upperBound.isFinite else { return max(value, .leastNormalMagnitude) }
            let inset = margin * (bounds.upperBound - bounds.lowerBound)
            return min(max(value, bounds.lowerBound + inset), bounds.upperBound - inset)
        }
    }
}
