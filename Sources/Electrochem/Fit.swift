import BenchCore
import Numerics

/// How residuals are weighted: each residual is divided by σ of its point.
public enum Weighting: String, Sendable, Codable, CaseIterable {
    /// σ = 1 (impedance.py's default).
    case unit
    /// σ = |Z| for both parts (impedance.py's `weight_by_modulus`).
    case modulus
    /// σ = |Re Z| for the real and |Im Z| for the imaginary part (|Z| where a part is 0).
    case proportional
    /// σ = the spectrum's spread (standard deviation) of Re Z for the real and of Im Z for the
    /// imaginary part: χ²/2N is then the square of the rescaled residual ρ the inverse model uses.
    case spread
}

public struct FitOptions: Sendable {
    public var weighting: Weighting
    /// Starting values by parameter name; parameters not named start from the automatic guess.
    public var initialGuess: [String: Double]
    /// Parameters held at a value, by name.
    public var fixed: [String: Double]
    /// Bounds by parameter name, overriding the circuit's defaults.
    public var bounds: [String: ClosedRange<Double>]
    /// Number of starts: the alternative guesses the spectrum's shape suggests, then random
    /// (reproducible) perturbations of the first. Each is screened with a few iterations; the two
    /// lowest χ² run on to convergence, and the lower wins. Nil: every shape-based guess once.
    public var starts: Int?
    public var maxIterations: Int

    public init(weighting: Weighting = .unit, initialGuess: [String: Double] = [:], fixed: [String: Double] = [:],
                bounds: [String: ClosedRange<Double>] = [:], starts: Int? = nil, maxIterations: Int = 200) {
        self.weighting = weighting
        self.initialGuess = initialGuess
        self.fixed = fixed
        self.bounds = bounds
        self.starts = starts
        self.maxIterations = maxIterations
    }
}

public struct FittedParameter: Sendable, Codable, Hashable {
    public var name: String
    public var value: Double
    /// One standard deviation from the Jacobian at the optimum; nil when fixed or not identifiable.
    public var standardError: Double?
    public var unit: String
    public var fixed: Bool
}

public struct FitResidual: Sendable, Codable, Hashable {
    public var frequency: Double
    /// Model minus data, Ω.
    public var real: Double
    public var imag: Double
}

public struct FitResult: Sendable, Codable, Hashable {
    public var circuit: String
    public var weighting: Weighting
    public var parameters: [FittedParameter]
    /// √(Σ(|ΔRe|² + |ΔIm|²)/(2N)), unweighted, Ω.
    public var rmse: Double
    /// Σ of squared weighted residuals.
    public var chiSquare: Double
    public var iterations: Int
    public var converged: Bool
    /// What to be careful about: parameters at a bound, unidentifiable parameters, no convergence.
    public var warnings: [String]
    public var residuals: [FitResidual]

    public func value(_ name: String) -> Double? { parameters.first { $0.name == name }?.value }
}

/// A fit that could not be done, with the reason.
public struct FitFailure: Error, Sendable, Codable, Hashable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

extension Circuit {
    /// Fits the circuit to a spectrum by bounded Levenberg–Marquardt.
    public func fit(_ spectrum: Spectrum, options: FitOptions = FitOptions()) throws(FitFailure) -> FitResult {
        if let problem = spectrum.validated() { throw FitFailure(reason: problem) }
        for name in Array(options.fixed.keys) + Array(options.initialGuess.keys) + Array(options.bounds.keys)
        where !parameterNames.contains(name) {
            throw FitFailure(reason: "unknown parameter '\(name)'; this circuit has \(parameterNames.joined(separator: ", "))")
        }
        var bounds = defaultBounds
        for (name, range) in options.bounds { if let i = parameterNames.firstIndex(of: name) { bounds[i] = range } }
        // Structured guesses from the spectrum's shape first, each with the caller's values applied.
        var starts = initialGuesses(for: spectrum)
        for s in starts.indices {
            for (i, name) in parameterNames.enumerated() {
                if let value = options.fixed[name] ?? options.initialGuess[name] { starts[s][i] = value }
                guard starts[s][i].isFinite else { throw FitFailure(reason: "initial value of \(name) is not finite") }
            }
        }
        if !options.initialGuess.isEmpty, options.initialGuess.count + options.fixed.count >= parameterCount {
            starts = [starts[0]]
        }
        let start = starts[0]
        let free = parameterNames.indices.filter { options.fixed[parameterNames[$0]] == nil }
        guard !free.isEmpty else { throw FitFailure(reason: "every parameter is fixed; nothing to fit") }
        guard 2 * spectrum.count > free.count else {
            throw FitFailure(reason: "\(free.count) free parameters need more than \(free.count / 2) points; the spectrum has \(spectrum.count)")
        }
        var problem = LevenbergMarquardt(circuit: self, spectrum: spectrum, weighting: options.weighting,
                                         free: free, bounds: free.map { bounds[$0] })
        // With one start, that start is the fit. With several, each is screened with a short run,
        // and only the most promising run on to convergence: the lowest χ² wins.
        let attempts = max(1, options.starts ?? starts.count)
        let screening = attempts == 1 ? options.maxIterations : min(options.maxIterations, Self.screeningIterations)
        var screened: [LevenbergMarquardt.Outcome] = []
        var random = SplitMix64(seed: 0x5EED)
        for attempt in 0..<attempts {
            var guess = attempt < starts.count ? starts[attempt] : start
            if attempt >= starts.count {
                for i in free { guess[i] = Self.perturb(start[i], within: bounds[i], using: &random) }
            }
            if let outcome = problem.solve(from: guess, maxIterations: screening) { screened.append(outcome) }
        }
        var best: LevenbergMarquardt.Outcome?
        for candidate in screened.sorted(by: { $0.cost < $1.cost }).prefix(Self.finalists) {
            var outcome = candidate
            if !candidate.converged, candidate.iterations < options.maxIterations,
               let polished = problem.solve(from: candidate.parameters, maxIterations: options.maxIterations - candidate.iterations) {
                outcome = LevenbergMarquardt.Outcome(parameters: polished.parameters, cost: polished.cost,
                                                     iterations: candidate.iterations + polished.iterations, converged: polished.converged)
            }
            if outcome.cost < best?.cost ?? .infinity { best = outcome }
        }
        guard let best else {
            throw FitFailure(reason: "the model is not finite at the initial guess (\(zip(parameterNames, start).map { "\($0)=\($1)" }.joined(separator: ", ")))")
        }
        let locked = Set(parameterNames.indices.filter {
            options.fixed[parameterNames[$0]] != nil || options.bounds[parameterNames[$0]] != nil
        })
        let permutation = canonicalPermutation(parameters: best.parameters, frequencies: spectrum.frequencies, locked: locked)
        var canonical = best
        canonical.parameters = permutation.map { best.parameters[$0] }
        return problem.report(canonical, names: parameterNames, units: parameterUnits, bounds: bounds, scale: start)
    }

    /// Iterations of each screening run, and how many screened starts run on to convergence.
    /// (On 200 of the benchmark's spectra, 5 or 8 screening iterations with one or two finalists
    /// succeed exactly as often as screening every start for 25 iterations; 8 and 2 leave a margin.)
    static let screeningIterations = 8
    static let finalists = 2

    /// A random restart: positive parameters scaled by a log-uniform factor in [1/10, 10],
    /// others drawn uniformly within finite bounds.
    private static func perturb(_ value: Double, within range: ClosedRange<Double>, using random: inout SplitMix64) -> Double {
        let u = random.nextUnit()
        if range.lowerBound.isFinite, range.upperBound.isFinite {
            return range.lowerBound + (range.upperBound - range.lowerBound) * (0.02 + 0.96 * u)
        }
        return value * Double.pow(10, 2 * u - 1)
    }
}

