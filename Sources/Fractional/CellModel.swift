/// Open-circuit voltage as a function of SOC: a table, linear between points.
public struct OCVTable: Sendable, Hashable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case invalid(String)
        public var description: String { switch self { case .invalid(let s): "OCV table: \(s)" } }
    }

    public let soc: [Double]
    /// Open-circuit voltage at each `soc`, V.
    public let voltage: [Double]

    /// `soc` strictly increasing, at least two points, all values finite.
    public init(soc: [Double], voltage: [Double]) throws(Failure) {
        guard soc.count == voltage.count, soc.count >= 2 else { throw .invalid("needs at least two points of soc and ocv_v") }
        guard soc.allSatisfy(\.isFinite), voltage.allSatisfy(\.isFinite) else { throw .invalid("values must be finite") }
        for i in 1..<soc.count where !(soc[i] > soc[i - 1]) {
            throw .invalid("soc must be strictly increasing (point \(i + 1): \(soc[i]) after \(soc[i - 1]))")
        }
        self.soc = soc
        self.voltage = voltage
    }

    /// The table of a cell file without OCV: 0 V at every SOC, so the model gives the overpotential alone.
    public static let zero = OCVTable(uncheckedSOC: [0, 1], voltage: [0, 0])

    private init(uncheckedSOC: [Double], voltage: [Double]) {
        self.soc = uncheckedSOC
        self.voltage = voltage
    }

    /// OCV at `soc`, V; extrapolated linearly from the end segments.
    public func voltage(at x: Double) -> Double {
        let i = segment(x)
        return voltage[i] + (voltage[i + 1] - voltage[i]) * (x - soc[i]) / (soc[i + 1] - soc[i])
    }

    /// dOCV/dSOC at `soc`, V per unit SOC.
    public func slope(at x: Double) -> Double {
        let i = segment(x)
        return (voltage[i + 1] - voltage[i]) / (soc[i + 1] - soc[i])
    }

    /// SOC whose OCV is `v`, clamped to the table's range (first match for a non-monotone table).
    public func soc(atVoltage v: Double) -> Double {
        if v <= voltage[0] { return soc[0] }
        for i in 1..<soc.count where voltage[i] >= v {
            let span = voltage[i] - voltage[i - 1]
            return span > 0 ? soc[i - 1] + (soc[i] - soc[i - 1]) * (v - voltage[i - 1]) / span : soc[i]
        }
        return soc[soc.count - 1]
    }

    /// Index i of the segment [soc[i], soc[i+1]] holding x (binary search, no allocation).
    private func segment(_ x: Double) -> Int {
        var low = 0, high = soc.count - 1
        while high - low > 1 {
            let mid = (low + high) / 2
            if soc[mid] <= x { low = mid } else { high = mid }
        }
        return low
    }
}

/// Equivalent-circuit cell model: OCV(SOC) + R0·i + Σ element voltages, SOC
/// from charge throughput. SI units; current positive into the cell.
public struct CellModel: Sendable, Hashable {
    /// Capacity, Ah.
    public var capacityAh: Double
    public var ocv: OCVTable
    /// Series (ohmic) resistance, Ω.
    public var seriesResistance: Double
    /// R ∥ CPE branches and an optional diffusion element, in series.
    public var elements: [RelaxationElement]

    public init(capacityAh: Double, ocv: OCVTable = .zero, seriesResistance: Double, elements: [RelaxationElement]) {
        self.capacityAh = capacityAh
        self.ocv = ocv
        self.seriesResistance = seriesResistance
        self.elements = elements
    }

    /// SOC change per ampere-second.
    public var socPerCoulomb: Double { 1 / (3600 * capacityAh) }
}

/// Time-domain simulation of a `CellModel` under a zero-order-hold current:
/// `current` is held from one sample to the next, and the voltage at each
/// sample time is the exact response of the model to that input up to the
/// exponential-sum error (`ExponentialSum.maximumError()` per element and per
/// ampere of current change). Each step costs O(modes) = O(log N), with no allocation.
public struct CellSimulator: Sendable {
    public let model: CellModel
    public internal(set) var soc: Double
    public internal(set) var memories: [ElementMemory]

    /// - Parameters:
    ///   - minimumStep: shortest time step that will be used, s (shorter steps lose accuracy in the fastest modes).
    ///   - horizon: longest simulated time, s.
    ///   - tolerance: quadrature tolerance of the exponential sums (relative to each element's scale).
    public init(model: CellModel, initialSOC: Double, minimumStep: Double = 1e-4, horizon: Double = 1e9, tolerance: Double = 1e-13) {
        self.model = model
        self.soc = initialSOC
        memories = model.elements.map { ElementMemory(element: $0, minimumStep: minimumStep, horizon: horizon, tolerance: tolerance) }
    }

    /// Sum of the element voltages now, V.
    public var polarization: Double {
        var sum = 0.0
        for i in memories.indices { sum += memories[i].voltage }
        return sum
    }

    /// Terminal voltage now, if `current` flows from now on, V.
    public func voltage(current: Double) -> Double {
        model.ocv.voltage(at: soc) + model.seriesResistance * current + polarization
    }

    /// Advances by `step` seconds with `current` held over it.
    public mutating func advance(by step: Double, current: Double) {
        soc += current * step * model.socPerCoulomb
        for i in memories.indices { memories[i].advance(by: step, current: current) }
    }

    /// Voltage at every time of a recording; `currents[n]` is held on `[times[n], times[n+1])`.
    public static func simulate(_ model: CellModel, times: [Double], currents: [Double], initialSOC: Double,
                                minimumStep: Double = 1e-4) -> [Double] {
        let horizon = max(1, (times.last ?? 0) - (times.first ?? 0))
        var simulator = CellSimulator(model: model, initialSOC: initialSOC, minimumStep: minimumStep, horizon: horizon)
        var out = Array(repeating: 0.0, count: times.count)
        for n in times.indices {
            if n > 0 { simulator.advance(by: times[n] - times[n - 1], current: currents[n - 1]) }
            out[n] = simulator.voltage(current: currents[n])
        }
        return out
    }
}
