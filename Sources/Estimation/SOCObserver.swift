import BenchCore
import Fractional

/// Online SOC observer for one channel: feed it the channel's `Sample`s in
/// order, one at a time (uneven spacing is fine); each returns SOC, its σ and
/// the voltage the model predicted for that sample.
///
/// Value type confined to one task (the channel's estimation loop). No
/// allocation per sample after the first; the per-sample cost is O(modes)
/// (a few µs for a fractional model, see BENCHMARKS.md).
public struct SOCObserver: Sendable {
    public enum Method: String, Sendable, CaseIterable {
        /// Fractional-order EKF on the cell file's model.
        case foekf
        /// Integer-order EKF: needs a cell file whose branches all have alpha = 1.
        case ekf2rc
        /// Coulomb counting from the initial SOC, σ from the current noise.
        case coulomb
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case modelNotIntegerOrder
        case invalidInitialSOC(Double)
        public var description: String {
            switch self {
            case .modelNotIntegerOrder:
                "observer ekf2rc needs a cell model whose branches all have alpha = 1 and no diffusion element (identify one with --integer-order)"
            case .invalidInitialSOC(let x): "initial SOC \(x) is outside [0, 1]"
            }
        }
    }

    public let model: CellModel
    public let method: Method
    public let tuning: FilterTuning
    let initialSOC: Double?
    private var filter: SOCFilter?
    private var lastTime = 0.0
    private var lastCurrent = 0.0

    /// - Parameter initialSOC: nil to take it from the first sample's voltage
    ///   (OCV inverse after removing the ohmic drop; meant for a rested cell).
    public init(model: CellModel, method: Method, tuning: FilterTuning = FilterTuning(), initialSOC: Double? = nil) throws(Failure) {
        if method == .ekf2rc {
            let integer = model.elements.allSatisfy { element in
                if case let .parallelCPE(_, _, alpha) = element { return alpha == 1 }
                return false
            }
            guard integer else { throw .modelNotIntegerOrder }
        }
        if let initialSOC, !(0...1).contains(initialSOC) { throw .invalidInitialSOC(initialSOC) }
        self.model = model
        self.method = method
        self.tuning = tuning
        self.initialSOC = initialSOC
    }

    /// SOC and its σ after the latest sample; nil before the first.
    public var currentState: (soc: Double, sigma: Double)? { filter.map { ($0.soc, $0.socSigma) } }

    /// Takes the next sample of the channel. Time is the sample's monotonic timestamp.
    public mutating func consume(_ sample: Sample) -> SOCEstimate {
        consume(time: sample.time.monotonicSeconds, current: sample.current, voltage: sample.voltage)
    }

    /// Same, from plain numbers: time s, current A (positive into the cell), voltage V.
    public mutating func consume(time: Double, current: Double, voltage: Double) -> SOCEstimate {
        guard var active = filter else {
            let start = initialSOC ?? model.ocv.soc(atVoltage: voltage - model.seriesResistance * current)
            var created = SOCFilter(model: model, tuning: tuning, initialSOC: start, correct: method != .coulomb)
            let estimate = created.update(step: 0, heldCurrent: current, voltage: voltage, current: current)
            filter = created
            lastTime = time
            lastCurrent = current
            return estimate
        }
        filter = nil  // keep the filter's storage uniquely referenced while it is updated
        let step = max(0, time - lastTime)
        let estimate = active.update(step: step, heldCurrent: lastCurrent, voltage: voltage, current: current)
        filter = active
        lastTime = time
        lastCurrent = current
        return estimate
    }
}

extension SOCEstimate {
    /// The SOC as a bench `Estimate` record (quantity `soc`, σ attached), for storage and streaming.
    public func record(channel: ChannelID, time: Timestamp, method: SOCObserver.Method) -> Estimate {
        Estimate(channel: channel, time: time, quantity: "soc", value: soc, sigma: socSigma, source: method.rawValue)
    }
}
