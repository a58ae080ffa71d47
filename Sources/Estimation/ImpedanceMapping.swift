import Fractional

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
    /// Continues with a new model (after a new impedance fit), keeping the SOC and its σ.
    /// The element voltages restart from the new model's rest state.
    public mutating func adopt(model newModel: CellModel, at estimate: SOCEstimate) throws(Failure) {
        var tuning = self.tuning
        tuning.initialSOCSigma = estimate.socSigma
        self = try SOCObserver(model: newModel, method: method, tuning: tuning, initialSOC: min(1, max(0, estimate.soc)))
    }
}
