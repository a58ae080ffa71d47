import BenchCore

/// The per-sweep analysis the daemon stores and streams: Lin-KK check and circuit fit,
/// each either a result or the reason it failed.
public struct SweepAnalysis: Sendable, Codable, Hashable {
    public var circuit: String
    public var pointCount: Int
    public var kk: LinKKResult?
    public var kkFailure: String?
    public var fit: FitResult?
    public var fitFailure: String?
    /// For `li-ion` fitted through the inverse model: the network's parameters, the residual of the
    /// fit, the network-to-polish parameter shift (uncertainty) and the data-quality flag.
    public var inverse: InverseFit?
}

/// Analyses completed sweeps of one channel against its configured circuit.
///
/// A pure value: `analyze` touches no shared state, so it may run on any thread; it is CPU-bound
/// (a fit of a 60-point sweep with an 8-parameter circuit and the automatic guess took 5–20 ms
/// on a loaded 2-core machine, see BENCHMARKS.md), so the daemon runs it on its own queue.
public struct SweepAnalyzer: Sendable {
    public let circuit: Circuit
    public var fitOptions: FitOptions
    public var kkOptions: LinKKOptions
    /// How the circuit is fitted; `inverse` methods need the `li-ion` circuit and `inverseModel`.
    public var method: FitMethod
    public var inverseModel: InverseModel?
    /// The `li-ion` circuit variant the inverse methods fit (default: the full circuit).
    public var variant: VariantChoice

    /// `method` defaults to `inverse+lm` with the shipped model for the `li-ion` circuit, `lm` otherwise;
    /// `fitOptions` to the default options with `defaultWeighting`.
    public init(circuit: String, fitOptions: FitOptions? = nil, kkOptions: LinKKOptions = LinKKOptions(),
                method: FitMethod? = nil, inverseModel: InverseModel? = nil,
                variant: VariantChoice = .fixed(.full)) throws(CircuitParseError) {
        self.circuit = try Circuit(circuit)
        self.fitOptions = fitOptions ?? FitOptions(weighting: Self.defaultWeighting(for: self.circuit))
        self.kkOptions = kkOptions
        self.variant = variant
        let family = self.circuit.description == InverseModel.circuit.description
        self.inverseModel = inverseModel ?? (family ? InverseModel.shipped : nil)
        self.method = method ?? (family && self.inverseModel != nil ? .inverseThenLM : .lm)
    }

    /// `spread` for the `li-ion` circuit, so its fits minimise the rescaled residual ρ by which the
    /// inverse model and "properly fitted" judge them; `unit` (impedance.py's default) otherwise.
    public static func defaultWeighting(for circuit: Circuit) -> Weighting {
        circuit.description == InverseModel.circuit.description ? .spread : .unit
    }

    public func analyze(_ points: [ImpedancePoint]) -> SweepAnalysis {
        let spectrum = Spectrum(points: points)
        var analysis = SweepAnalysis(circuit: circuit.description, pointCount: points.count)
        do { analysis.kk = try spectrum.linKK(kkOptions) } catch { analysis.kkFailure = error.reason }
        do throws(FitFailure) {
            if method == .lm {
                analysis.fit = try circuit.fit(spectrum, options: fitOptions)
            } else {
                guard let inverseModel, circuit.description == InverseModel.circuit.description else {
                    throw FitFailure(reason: "method \(method.rawValue) needs the \(LiIonFamily.circuitName) circuit and an inverse model")
                }
                let inverse = try inverseModel.fit(spectrum, method: method, variant: variant, options: fitOptions)
                analysis.inverse = inverse
                analysis.fit = inverse.fit
            }
        } catch {
            analysis.fitFailure = error.reason
        }
        return analysis
    }

    public func analyze(_ sweep: Sweep) -> SweepAnalysis { analyze(sweep.points) }
}
