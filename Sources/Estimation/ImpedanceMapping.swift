import Electrochem
import Fractional
#if canImport(Glibc)
import Glibc
#endif

/// Parameters of an impedance-spectrum fit of the circuit
/// `R0 + Σ R_k ∥ CPE(T_k, α_k) + Warburg(σ)`, as plain numbers (Ω, F·s^(α-1), Ω·s^-1/2).
public struct ImpedanceFitParameters: Sendable, Hashable {
    public struct Branch: Sendable, Hashable {
        public var r: Double
        public var t: Double
        public var alpha: Double
        public init(r: Double, t: Double, alpha: Double) {
            self.r = r
            self.t = t
            self.alpha = alpha
        }
    }

    public var r0: Double
    public var branches: [Branch]
    /// Warburg coefficient σ, or nil when the fit has no Warburg element.
    public var warburgSigma: Double?

    public init(r0: Double, branches: [Branch], warburgSigma: Double? = nil) {
        self.r0 = r0
        self.branches = branches
        self.warburgSigma = warburgSigma
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case invalid(String)
        public var description: String { switch self { case .invalid(let s): "impedance fit: \(s)" } }
    }

    /// The cell model with this impedance, keeping a channel's capacity and OCV table.
    public func cellModel(capacityAh: Double, ocv: OCVTable) throws(Failure) -> CellModel {
        guard r0 >= 0, r0.isFinite else { throw .invalid("R0 = \(r0) Ω must be finite and ≥ 0") }
        var elements: [RelaxationElement] = []
        for (k, b) in branches.enumerated() {
            let element = RelaxationElement.parallelCPE(r: b.r, t: b.t, alpha: b.alpha)
            guard element.isValid else { throw .invalid("branch \(k + 1): need R > 0, T > 0, 0 < alpha ≤ 1 (got \(b.r), \(b.t), \(b.alpha))") }
            elements.append(element)
        }
        if let sigma = warburgSigma {
            guard sigma > 0, sigma.isFinite else { throw .invalid("Warburg σ = \(sigma) must be > 0") }
            elements.append(.warburg(sigma: sigma))
        }
        return CellModel(capacityAh: capacityAh, ocv: ocv, seriesResistance: r0, elements: elements)
    }
}

extension SOCObserver {
    /// Continues with a new model from the next sample on, keeping the current SOC and its σ
    /// (before the first sample: the new model with the same initial SOC rule).
    public mutating func adopt(model newModel: CellModel) throws(Failure) {
        guard let state = currentState else {
            self = try SOCObserver(model: newModel, method: method, tuning: tuning, initialSOC: initialSOC)
            return
        }
        try adopt(model: newModel, at: SOCEstimate(soc: state.soc, socSigma: state.sigma, predictedVoltage: .nan, currentBias: 0))
    }

    /// Continues with a new model (after a new impedance fit), keeping the SOC and its σ.
    /// The element voltages restart from the new model's rest state.
    public mutating func adopt(model newModel: CellModel, at estimate: SOCEstimate) throws(Failure) {
        var tuning = self.tuning
        tuning.initialSOCSigma = estimate.socSigma
        self = try SOCObserver(model: newModel, method: method, tuning: tuning, initialSOC: min(1, max(0, estimate.soc)))
    }
}

extension ImpedanceFitParameters {
    /// Reads a circuit fit whose top level is a series of: resistors (summed into R0),
    /// `p(R,CPE)` / `p(R,C)` pairs, `Zarc` (`R/(1+(jωτ)^γ)`: T = τ^γ/R), `K` (`R/(1+jωτ)`)
    /// and at most one semi-infinite Warburg `W` (impedance.py's `A_W(1-j)/√ω` is `√2·σ/√(jω)` with σ = A_W).
    /// Inductive elements (`L`, `La`) are left out: they act far above the sample rates.
    public init(fit: FitResult) throws(Failure) {
        func value(_ name: String) throws(Failure) -> Double {
            guard let v = fit.value(name) else { throw .invalid("parameter \(name) missing from the fit of \(fit.circuit)") }
            return v
        }
        var r0 = 0.0
        var branches: [Branch] = []
        var sigma: Double?
        for term in Self.seriesTerms(fit.circuit) {
            let kind = term.prefix { $0.isLetter }
            switch kind {
            case "R": r0 += try value(term)
            case "L", "La": continue
            case "W":
                guard sigma == nil else { throw .invalid("more than one Warburg element in \(fit.circuit)") }
                sigma = try value(term)
            case "Zarc":
                let r = try value("\(term)_0"), tau = try value("\(term)_1"), gamma = try value("\(term)_2")
                branches.append(Branch(r: r, t: pow(tau, gamma) / r, alpha: gamma))
            case "K":
                let r = try value("\(term)_0"), tau = try value("\(term)_1")
                branches.append(Branch(r: r, t: tau / r, alpha: 1))
            case "p":
                let inner = term.dropFirst(2).dropLast().split(separator: ",").map { String($0).trimmingWhitespace() }
                guard inner.count == 2, let rName = inner.first(where: { $0.hasPrefix("R") }),
                      let other = inner.first(where: { !$0.hasPrefix("R") }) else {
                    throw .invalid("unsupported parallel group \(term) in \(fit.circuit) (expected p(R,CPE) or p(R,C))")
                }
                let r = try value(rName)
                if other.hasPrefix("CPE") {
                    branches.append(Branch(r: r, t: try value("\(other)_0"), alpha: try value("\(other)_1")))
                } else if other.hasPrefix("C") {
                    branches.append(Branch(r: r, t: try value(other), alpha: 1))
                } else {
                    throw .invalid("unsupported parallel group \(term) in \(fit.circuit) (expected p(R,CPE) or p(R,C))")
                }
            default:
                throw .invalid("element \(term) of \(fit.circuit) has no time-domain counterpart in the cell model")
            }
        }
        self.init(r0: r0, branches: branches, warburgSigma: sigma)
    }

    /// Top-level series terms of an impedance.py circuit string (split at `-` outside parentheses).
    static func seriesTerms(_ circuit: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var depth = 0
        for ch in circuit where !ch.isWhitespace {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if ch == "-" && depth == 0 {
                terms.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { terms.append(current) }
        return terms
    }
}

private extension String {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
