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
}

/// Analyses completed sweeps of one channel against its configured circuit.
///
/// A pure value: `analyze` touches no shared state, so it may run on any thread; it is CPU-bound
/// (about a millisecond for a 60-point sweep and a 10-parameter circuit), so the daemon should
/// call it off the cooperative pool's latency-sensitive tasks, e.g. in a detached task.
public struct SweepAnalyzer: Sendable {
    public let circuit: Circuit
    public var fitOptions: FitOptions
    public var kkOptions: LinKKOptions

    public init(circuit: String, fitOptions: FitOptions = FitOptions(), kkOptions: LinKKOptions = LinKKOptions()) throws(CircuitParseError) {
        self.circuit = try Circuit(circuit)
        self.fitOptions = fitOptions
        self.kkOptions = kkOptions
    }

    public func analyze(_ points: [ImpedancePoint]) -> SweepAnalysis {
        let spectrum = Spectrum(points: points)
        var analysis = SweepAnalysis(circuit: circuit.description, pointCount: points.count)
        do { analysis.kk = try spectrum.linKK(kkOptions) } catch { analysis.kkFailure = error.reason }
        do { analysis.fit = try circuit.fit(spectrum, options: fitOptions) } catch { analysis.fitFailure = error.reason }
        return analysis
    }

    public func analyze(_ sweep: Sweep) -> SweepAnalysis { analyze(sweep.points) }
}
