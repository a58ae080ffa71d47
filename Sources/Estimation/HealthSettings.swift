import Fractional

/// How a `HealthTracker` reads one channel's cycling data.
public struct HealthSettings: Sendable, Hashable {
    /// Rated (nameplate) capacity, Ah: the reference of SOH_Q and of equivalent full cycles.
    public var ratedCapacityAh: Double
    /// Below this |current|, A, the cell rests (default C/100).
    public var restCurrentA: Double
    /// A rest counts as relaxed (a capacity anchor) after this long, s.
    public var minimumRestSeconds: Double = 500
    /// Relaxed voltage → state of charge, when the cell's OCV curve is known.
    public var ocv: OCVTable?
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
    /// A capacity measured over a segment whose mean current while active is at most this C-rate
    /// comes from a check-up cycle (a slow full cycle), and is reported apart from the regular cycles'.
    public var checkupMaximumCRate: Double = 0.25
    /// Widest sample interval still integrated, s; a longer gap breaks the charge count.
    public var maximumGapSeconds: Double = 60

    public init(ratedCapacityAh: Double) {
        self.ratedCapacityAh = ratedCapacityAh
        restCurrentA = ratedCapacityAh / 100
        minimumStepA = ratedCapacityAh / 5
    }
}
