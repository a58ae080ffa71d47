import BenchCore
import Numerics

/// Parameters of a virtual Li-ion cell: an equivalent circuit (series
/// resistance, RC branches) on an open-circuit-voltage curve, with a lumped
/// thermal model. Defaults resemble a 3 Ah NMC 18650 at 25 °C.
public struct CellParameters: Sendable, Hashable, Codable {
    public struct OCVPoint: Sendable, Hashable, Codable {
        public var soc: Double
        public var volts: Double
        public init(_ soc: Double, _ volts: Double) { self.soc = soc; self.volts = volts }
    }
    public struct RCBranch: Sendable, Hashable, Codable {
        public var rOhm: Double
        public var cFarad: Double
        public init(rOhm: Double, cFarad: Double) { self.rOhm = rOhm; self.cFarad = cFarad }
    }
    /// A depressed arc of the impedance spectrum, `R / (1 + (jωτ)^φ)`.
    public struct Arc: Sendable, Hashable, Codable {
        public var rOhm: Double
        public var tauS: Double
        public var exponent: Double
        public init(rOhm: Double, tauS: Double, exponent: Double) { self.rOhm = rOhm; self.tauS = tauS; self.exponent = exponent }
    }

    public var capacityAh: Double = 3.0
    /// Open-circuit voltage against state of charge, in increasing soc.
    public var ocv: [OCVPoint] = CellParameters.nmcOCV
    /// Resistance seen by a current step within one sample: electrolyte, contacts and the fast
    /// interfacial arcs together, Ω.
    public var r0Ohm: Double = 0.025
    /// Slow polarisation (solid-state diffusion) as RC branches: each relaxes with τ = R·C.
    public var branches: [RCBranch] = [RCBranch(rOhm: 0.012, cFarad: 800), RCBranch(rOhm: 0.018, cFarad: 12_000)]
    /// The fast arcs that make up part of `r0Ohm` in the spectrum: surface film (SEI) and
    /// charge transfer. The high-frequency intercept is `r0Ohm` minus their resistances.
    public var arcs: [Arc] = [Arc(rOhm: 0.004, tauS: 1e-4, exponent: 0.8), Arc(rOhm: 0.008, tauS: 0.02, exponent: 0.9)]
    /// Warburg coefficient of solid-state diffusion, Ω·s^-½: in the spectrum it stands for the
    /// slow branches, whose own arcs lie below the frequencies a sweep reaches.
    public var warburgSigma: Double = 0.004
    /// Series inductance of cell and leads, H (impedance only).
    public var inductanceH: Double = 2e-7
    /// Heat capacity, J/K, and thermal resistance to ambient, K/W.
    public var heatCapacity: Double = 45
    public var thermalResistance: Double = 12
    public var ambientC: Double = 25
    /// Self-discharge as a leakage resistance across the cell, Ω (infinite when healthy).
    public var leakageOhm: Double = .infinity
    /// Heat released inside the cell beyond Joule heating, W (a fault such as an internal reaction; 0 when healthy).
    public var internalHeatW: Double = 0

    public init() {}

    /// A typical NMC/graphite open-circuit-voltage curve.
    public static let nmcOCV: [OCVPoint] = [
        (0.00, 3.00), (0.02, 3.28), (0.05, 3.40), (0.10, 3.48), (0.20, 3.57), (0.30, 3.63),
        (0.40, 3.68), (0.50, 3.74), (0.60, 3.82), (0.70, 3.91), (0.80, 3.99), (0.90, 4.07), (1.00, 4.18),
    ].map { OCVPoint($0.0, $0.1) }

    /// OCV at a state of charge, linear between table points, clamped at the ends.
    public func openCircuitVoltage(soc: Double) -> Double {
        guard let first = ocv.first, let last = ocv.last else { return 0 }
        if soc <= first.soc { return first.volts }
        if soc >= last.soc { return last.volts }
        var lo = 0
        var hi = ocv.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if ocv[mid].soc <= soc { lo = mid } else { hi = mid }
        }
        let a = ocv[lo], b = ocv[hi]
        return a.volts + (b.volts - a.volts) * (soc - a.soc) / (b.soc - a.soc)
    }
}

/// A virtual cell integrated exactly under a current held constant over each step.
public struct VirtualCell: Sendable, Codable {
    public var parameters: CellParameters
    public private(set) var soc: Double
    public private(set) var branchVolts: [Double]
    public private(set) var temperatureC: Double
    /// Net charge into the cell since creation, Ah.
    public private(set) var chargeAh: Double = 0
    /// Simulated time since creation, s.
    public private(set) var time: Double = 0
    /// Current of the last step, A (positive into the cell).
    public private(set) var current: Double = 0

    public init(parameters: CellParameters = CellParameters(), soc: Double = 0.5) {
        self.parameters = parameters
        self.soc = min(max(soc, 0), 1)
        self.branchVolts = Array(repeating: 0, count: parameters.branches.count)
        self.temperatureC = parameters.ambientC
    }

    /// Terminal voltage at the present state with the present current.
    public var terminalVoltage: Double { terminalVoltage(current: current) }

    /// Terminal voltage if `current` flowed now (the branch voltages cannot jump).
    public func terminalVoltage(current: Double) -> Double {
        parameters.openCircuitVoltage(soc: soc) + current * parameters.r0Ohm + branchVolts.reduce(0, +)
    }

    /// Advances by `dt` seconds with `current` amperes (positive into the cell) held constant.
    public mutating func step(current: Double, dt: Double) {
        guard dt > 0 else { self.current = current; return }
        let leak = parameters.leakageOhm.isFinite ? parameters.openCircuitVoltage(soc: soc) / parameters.leakageOhm : 0
        let net = current - leak
        for (k, branch) in parameters.branches.enumerated() {
            let decay = Double.exp(-dt / (branch.rOhm * branch.cFarad))
            branchVolts[k] = branchVolts[k] * decay + branch.rOhm * current * (1 - decay)
        }
        let dq = net * dt / 3600
        chargeAh += current * dt / 3600
        soc = min(max(soc + dq / parameters.capacityAh, 0), 1)
        // Joule heating in the resistances, Newtonian cooling to ambient (exact for constant heat).
        let heat = current * current * (parameters.r0Ohm + parameters.branches.reduce(0) { $0 + $1.rOhm }) + parameters.internalHeatW
        let tau = parameters.heatCapacity * parameters.thermalResistance
        let target = parameters.ambientC + heat * parameters.thermalResistance
        temperatureC = target + (temperatureC - target) * Double.exp(-dt / tau)
        self.current = current
        time += dt
    }

    /// The cell's impedance at `frequency` Hz in the present state:
    /// `jωL + R_hf + Σ R_k / (1 + (jωτ_k)^φ_k) + σ·√2/√(jω)` with `R_hf = R0 − Σ R_k`.
    public func impedance(frequency: Double) -> Complex<Double> {
        let omega = 2 * Double.pi * frequency
        let jw = Complex<Double>(0, omega)
        let highFrequency = parameters.r0Ohm - parameters.arcs.reduce(0) { $0 + $1.rOhm }
        var z = Complex<Double>(highFrequency, omega * parameters.inductanceH)
        for arc in parameters.arcs {
            let x = Complex.pow(jw * Complex(arc.tauS), Complex(arc.exponent))
            z = z + Complex(arc.rOhm) / (Complex(1) + x)
        }
        if parameters.warburgSigma > 0 {
            z = z + Complex(parameters.warburgSigma * 2.0.squareRoot()) / Complex.sqrt(jw)
        }
        return z
    }
}
