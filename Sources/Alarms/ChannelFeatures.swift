import BenchCore

/// Features of one cell derived sample by sample, in fixed-size state (no
/// allocation per sample): temperature rate, voltage noise, resistance from
/// current steps, discharge capacity per cycle, voltage decay at rest.
///
/// Kept apart from the rules so that state-of-health tracking can reuse it.
public struct ChannelFeatures: Sendable {
    /// Window over which the temperature rate is measured, s.
    public static let temperatureRateWindow = 60.0
    /// Smallest discharge step from rest used to measure resistance: a C-rate of the rated capacity, or in A when the rating is unknown.
    public static let stepCRate = 0.3
    public static let minimumStepCurrent = 0.1
    /// Current below which the cell is at rest, A.
    public static let restCurrent = 1e-3
    /// Relaxation allowed after current stops before the rest decay is measured, s.
    public static let restSettling = 1800.0
    /// Shortest measured rest that yields a self-discharge figure, s.
    public static let restMinimum = 1800.0
    /// Smoothing of the noise estimate and of resistance, in samples and steps.
    static let noiseSamples = 30.0
    static let resistanceSteps = 4.0

    let stepCurrent: Double
    let ratedCapacity: Double

    // Last sample.
    private var hasLast = false
    private var lastTime = 0.0
    private var lastVoltage = 0.0
    private var lastCurrent = 0.0
    private var previousVoltage = Double.nan
    private var previousCurrent = Double.nan

    // Temperature rate.
    private var rateStartTime = Double.nan
    private var rateStartTemperature = Double.nan
    /// K/s, NaN until measured.
    public private(set) var temperatureRate = Double.nan

    /// Voltage noise estimate at steady current, V rms (NaN until measured).
    public private(set) var voltageNoise = Double.nan
    private var meanAbsoluteSecondDifference = 0.0
    private var noiseCount = 0.0

    /// Smoothed resistance from current steps, Ω (NaN until measured).
    public private(set) var resistance = Double.nan
    /// Mean of the first resistance measurements, Ω.
    public private(set) var firstResistance = Double.nan
    private var resistanceCount = 0.0

    // Capacity.
    private var dischargedAh = 0.0
    /// Discharge capacity of the first and of the latest complete discharge, Ah (NaN until seen).
    public private(set) var firstCapacity = Double.nan
    public private(set) var latestCapacity = Double.nan

    // Rest: least-squares slope of voltage against time once settled.
    private var restSince = Double.nan
    private var restN = 0.0, restSumT = 0.0, restSumV = 0.0, restSumTT = 0.0, restSumTV = 0.0, restT0 = 0.0
    /// Voltage slope of the latest measured rest, V/s (NaN until measured).
    public private(set) var restVoltageSlope = Double.nan

    public init(ratedCapacityAh: Double) {
        ratedCapacity = ratedCapacityAh
        stepCurrent = ratedCapacityAh > 0 ? max(Self.minimumStepCurrent, Self.stepCRate * ratedCapacityAh) : Self.minimumStepCurrent
    }

    /// Capacity lost since the first full discharge, fraction.
    public var capacityFade: Double { 1 - latestCapacity / firstCapacity }
    /// Resistance growth since the first measurements, fraction.
    public var resistanceGrowth: Double { resistance / firstResistance - 1 }

    public mutating func observe(_ s: Sample) {
        let t = s.time.monotonicSeconds
        observeTemperature(s.temperature, at: t)
        guard s.voltage.isFinite, s.current.isFinite else { return }
        if hasLast {
            let dt = t - lastTime
            if dt > 0 {
                observeStep(s, dt: dt)
            }
        }
        observeNoise(s)
        observeRest(s, at: t)
        previousVoltage = lastVoltage
        previousCurrent = hasLast ? lastCurrent : .nan
        lastVoltage = s.voltage
        lastCurrent = s.current
        lastTime = t
        hasLast = true
    }

    private mutating func observeTemperature(_ temperature: Double, at t: Double) {
        guard temperature.isFinite else {
            rateStartTime = .nan
            temperatureRate = .nan
            return
        }
        guard rateStartTime.isFinite else {
            rateStartTime = t
            rateStartTemperature = temperature
            return
        }
        let elapsed = t - rateStartTime
        if elapsed >= Self.temperatureRateWindow {
            temperatureRate = (temperature - rateStartTemperature) / elapsed
            rateStartTime = t
            rateStartTemperature = temperature
        }
    }

    /// Resistance at current steps, and charge thrown during discharge.
    private mutating func observeStep(_ s: Sample, dt: Double) {
        // Resistance is taken where a discharge starts from rest: the cell is relaxed and, on the
        // flat part of its OCV curve, the open-circuit voltage barely moves within one sample.
        let di = s.current - lastCurrent
        if abs(lastCurrent) < Self.restCurrent, -di >= stepCurrent {
            let r = (s.voltage - lastVoltage) / di
            if r > 0 {
                resistanceCount += 1
                let weight = 1 / min(resistanceCount, Self.resistanceSteps)
                resistance = resistanceCount == 1 ? r : resistance + weight * (r - resistance)
                if resistanceCount <= Self.resistanceSteps { firstResistance = resistance }
            }
        }
        if lastCurrent < 0 { dischargedAh -= lastCurrent * dt / 3600 }
        // A discharge ends when the current stops being negative; count it as a cycle when it was deep.
        if lastCurrent < 0, s.current >= 0 {
            let deep = ratedCapacity > 0 ? dischargedAh >= 0.5 * ratedCapacity : dischargedAh > 0
            if deep {
                latestCapacity = dischargedAh
                if !firstCapacity.isFinite { firstCapacity = dischargedAh }
            }
            dischargedAh = 0
        }
    }

    /// Mean absolute second difference of voltage over steady-current samples; for white
    /// noise of standard deviation σ it equals σ·√6·√(2/π).
    private mutating func observeNoise(_ s: Sample) {
        guard hasLast, previousCurrent.isFinite, previousVoltage.isFinite else { return }
        let steady = abs(s.current - lastCurrent) < 1e-3 && abs(lastCurrent - previousCurrent) < 1e-3
        guard steady else { return }
        let d2 = abs(s.voltage - 2 * lastVoltage + previousVoltage)
        noiseCount += 1
        meanAbsoluteSecondDifference += (d2 - meanAbsoluteSecondDifference) / min(noiseCount, Self.noiseSamples)
        voltageNoise = meanAbsoluteSecondDifference / (6.0.squareRoot() * (2 / Double.pi).squareRoot())
    }

    private mutating func observeRest(_ s: Sample, at t: Double) {
        guard abs(s.current) < Self.restCurrent else {
            finishRest()
            restSince = .nan
            return
        }
        if !restSince.isFinite { restSince = t }
        guard t - restSince >= Self.restSettling else { return }
        if restN == 0 { restT0 = t }
        let x = t - restT0
        restN += 1
        restSumT += x
        restSumV += s.voltage
        restSumTT += x * x
        restSumTV += x * s.voltage
    }

    private mutating func finishRest() {
        defer { restN = 0; restSumT = 0; restSumV = 0; restSumTT = 0; restSumTV = 0 }
        guard restN >= 3 else { return }
        let span = restSumTT / restN - (restSumT / restN) * (restSumT / restN)
        guard span > 0, 12 * span >= Self.restMinimum * Self.restMinimum * 0.9 else { return }
        restVoltageSlope = (restSumTV / restN - restSumT / restN * restSumV / restN) / span
    }

    /// The value of a cohort metric for this cell (NaN while not yet measurable).
    /// `resistance` is returned in Ω; the evaluator relates it to the cohort median.
    func value(of metric: CohortMetric) -> Double {
        switch metric {
        case .capacityFade: capacityFade
        case .resistance: resistance
        case .resistanceGrowth: resistanceGrowth
        case .selfDischarge: -restVoltageSlope
        }
    }
}
