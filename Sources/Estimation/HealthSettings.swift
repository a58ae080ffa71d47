/// Open-circuit voltage against state of charge, increasing in both: turns a
/// relaxed voltage into a state of charge.
public struct OCVCurve: Sendable, Hashable {
    public let soc: [Double]
    public let volts: [Double]

    /// `points` as (soc, V) pairs; nil unless there are two or more and both columns strictly increase.
    public init?(_ points: [(soc: Double, volts: Double)]) {
        guard points.count >= 2 else { return nil }
        for k in 1..<points.count where !(points[k].soc > points[k - 1].soc && points[k].volts > points[k - 1].volts) {
            return nil
        }
        soc = points.map(\.soc)
        volts = points.map(\.volts)
    }

    /// State of charge at a relaxed voltage and the local slope dV/dSOC, V; clamped at the ends.
    public func stateOfCharge(volts v: Double) -> (soc: Double, slope: Double) {
        var hi = 1
        while hi < volts.count - 1 && volts[hi] < v { hi += 1 }
        let lo = hi - 1
        let slope = (volts[hi] - volts[lo]) / (soc[hi] - soc[lo])
        let s = soc[lo] + (v - volts[lo]) / slope
        return (min(max(s, soc[0]), soc[soc.count - 1]), slope)
    }
}

/// How a `HealthTracker` reads one channel's cycling data.
public struct HealthSettings: Sendable, Hashable {
    /// Rated (nameplate) capacity, Ah: the reference of SOH_Q and of equivalent full cycles.
    public var ratedCapacityAh: Double
    /// Below this |current|, A, the cell rests (default C/100).
    public var restCurrentA: Double
    /// A rest counts as relaxed (a capacity anchor) after this long, s.
    public var minimumRestSeconds: Double = 500
    /// Relaxed voltage → state of charge, when the cell's OCV curve is known.
    public var ocv: OCVCurve?
    /// Standard deviation of a relaxed voltage taken as OCV (residual polarisation, hysteresis), V.
    public var relaxedVoltageSigma: Double = 0.003
    /// Relative accuracy of the current measurement (gain), used for the charge-count uncertainty.
    public var currentRelativeAccuracy: Double = 0.001
    /// Capacity from SOC differences needs at least this SOC swing between anchors.
    public var minimumSOCSwing: Double = 0.5
    /// Charge cut-off voltage of the cycling protocol, V: a charge that ends at it with a tapered
    /// current leaves the cell "full" (for capacity by throughput, when no SOC is known).
    public var upperVoltage: Double?
    /// Discharge cut-off voltage, V: a discharge that ends at it leaves the cell "empty".
    public var lowerVoltage: Double?
    /// Tolerance on the cut-off voltages, V.
    public var cutoffTolerance: Double = 0.01
    /// A change of current of at least this much, A, between two samples is a step (default C/5).
    public var minimumStepA: Double
    /// The current must have been steady this long before a step, s.
    public var steadyBeforeStepSeconds: Double = 10
    /// Steady means within this relative band of the step current.
    public var steadyRelativeBand: Double = 0.02
    /// Delays after a step at which ΔV/ΔI is reported, s.
    public var stepDelays: [Double] = [0.1, 1, 10]
    /// The step delay whose resistance defines SOH_R, s.
    public var sohResistanceDelay: Double = 1
    /// Widest sample interval still integrated, s; a longer gap breaks the charge count.
    public var maximumGapSeconds: Double = 60

    public init(ratedCapacityAh: Double) {
        self.ratedCapacityAh = ratedCapacityAh
        restCurrentA = ratedCapacityAh / 100
        minimumStepA = ratedCapacityAh / 5
    }
}
