import BenchCore

/// One capacity measurement: the charge counted between two relaxed rests over
/// the change of state of charge between them.
public struct CapacityMeasurement: Sendable, Hashable {
    /// How the states of charge at the two rests were known.
    public enum Method: String, Sendable, Hashable {
        /// Relaxed voltage through the OCV curve.
        case ocv
        /// The SOC observer's estimate.
        case observer
        /// Full (CV charge to the upper cut-off) to empty (discharge to the lower cut-off): the discharge capacity.
        case throughput
    }
    /// End of the measurement (last sample of the second rest).
    public var time: Timestamp
    /// Equivalent full cycles (throughput / (2 × rated capacity)) at `time`.
    public var equivalentCycles: Double
    public var capacityAh: Double
    public var sigmaAh: Double
    public var method: Method
    /// Measured over a check-up: a slow cycle (mean current while active at most
    /// `HealthSettings.checkupMaximumCRate`), which yields more charge than the regular cycling rate.
    public var checkup: Bool
}

/// Forecast of the crossing of 80 % of rated capacity from the fade model.
public struct FadeForecast: Sendable, Hashable {
    public var model: FadeModel
    /// Equivalent full cycles at the last capacity measurement.
    public var nowCycles: Double
    /// Remaining equivalent full cycles to 80 %: central, and the 90 % interval (nil: beyond the horizon).
    public var remaining: Double?
    public var remainingLow: Double?
    public var remainingHigh: Double?
}

/// State of health of one channel, online: consumes the channel's samples (and
/// the SOC and impedance-fit estimates when there are any) and emits estimates:
///
/// - `capacity_ah` (σ) and `soh_q` (σ) at each capacity measurement of the regular
///   cycling, `checkup_capacity_ah` (σ) and `checkup_soh_q` (σ) for one over a check-up,
/// - `r_dc_<delay>s` (Ω) after each current step, `soh_r` relative to the first
///   step resistance at the same direction, SOC band and temperature band,
/// - `soh_r.<R>` for each fitted resistance `fit.<R>` on the same terms,
/// - `cycles_to_80pct` (σ), `cycles_to_80pct_low`, `cycles_to_80pct_high` after
///   each capacity once the fade model can be fitted.
///
/// A value type with no allocation per sample; confine it to one task.
public struct HealthTracker: Sendable {
    public let channel: ChannelID
    public let settings: HealthSettings
    public private(set) var capacities: [CapacityMeasurement] = []
    /// Net charge counted since the first sample, Ah (positive into the cell).
    public private(set) var chargeAh = 0.0
    /// Charge throughput (charged plus discharged), Ah.
    public private(set) var throughputAh = 0.0
    /// Time with current flowing (not at rest), s.
    public private(set) var activeSeconds = 0.0

    private struct Anchor {
        var chargeAh: Double
        var throughputAh: Double
        var activeSeconds: Double
        var soc: Double?
        var socSigma: Double
        var method: CapacityMeasurement.Method?
        var full: Bool
        var empty: Bool
    }

    private struct ReferenceKey: Hashable {
        var name: String
        var direction: Int8
        var socBand: Int8
        var temperatureBand: Int16
    }

    private var last: (t: Double, v: Double, i: Double, stamp: Timestamp, temperature: Double)?
    private var anchor: Anchor?
    /// Rest under way: when it began, and the sample that ended the activity before it.
    private var restStart: Double?
    private var beforeRest: (v: Double, i: Double) = (.nan, 0)
    /// Latest observer SOC, and whether it arrived during the rest under way.
    private var observer: (soc: Double, sigma: Double, duringRest: Bool)?
    private var observerSigma = Double.nan
    private var steps: StepResistance
    private let stepNames: [String]
    private let sohStepIndex: Int?
    private var references: [ReferenceKey: Double] = [:]

    public init(channel: ChannelID, settings: HealthSettings) {
        self.channel = channel
        self.settings = settings
        steps = StepResistance(settings: settings)
        let delays = settings.stepDelays.sorted()
        stepNames = delays.map { "r_dc_\(Self.format($0))s" }
        sohStepIndex = delays.firstIndex(of: settings.sohResistanceDelay)
    }

    public init(channel: ChannelID, ratedCapacityAh: Double) {
        self.init(channel: channel, settings: HealthSettings(ratedCapacityAh: ratedCapacityAh))
    }

    /// Equivalent full cycles so far.
    public var equivalentCycles: Double { throughputAh / (2 * settings.ratedCapacityAh) }

    // MARK: Samples

    public mutating func consume(_ sample: Sample, emit: (Estimate) -> Void) {
        let t = sample.instrumentTime > 0 ? sample.instrumentTime : sample.time.wallSeconds
        let v = sample.voltage, i = sample.current
        guard v.isFinite, i.isFinite, t.isFinite else { return }
        defer { last = (t, v, i, sample.time, sample.temperature) }
        guard let last else { return }
        let dt = t - last.t
        guard dt > 0, dt <= settings.maximumGapSeconds else {
            breakCount()
            return
        }
        // The sample's current flowed over the interval that ends at it.
        chargeAh += i * dt / 3600
        throughputAh += abs(i) * dt / 3600

        if abs(i) < settings.restCurrentA {
            if restStart == nil {
                restStart = last.t
                beforeRest = (last.v, last.i)
                observer?.duringRest = false
            }
        } else {
            if let start = restStart, last.t - start >= settings.minimumRestSeconds {
                closeRest(voltage: last.v, time: last.stamp, chargeAh: chargeAh - i * dt / 3600,
                          throughputAh: throughputAh - abs(i) * dt / 3600, activeSeconds: activeSeconds, emit: emit)
            }
            restStart = nil
            activeSeconds += dt
        }

        let stamp = sample.time, temperature = sample.temperature
        var detector = steps
        detector.consume(time: t, voltage: v, current: i) { step in
            let ohms = step.ohms
            emit(Estimate(channel: channel, time: stamp, quantity: stepNames[step.delayIndex], value: ohms, source: "step"))
            if step.delayIndex == sohStepIndex {
                let key = referenceKey(stepNames[step.delayIndex], direction: step.deltaCurrent > 0 ? 1 : -1,
                                       temperature: temperature)
                emit(Estimate(channel: channel, time: stamp, quantity: "soh_r", value: relative(ohms, key), source: "step"))
            }
        }
        steps = detector
    }

    /// Samples were lost (a gap in time, or records missed by a reader): no capacity is measured
    /// and no step is followed across the break.
    public mutating func breakCount() {
        anchor = nil
        restStart = nil
        steps.reset()
    }

    /// End of the data: a rest still under way counts as finished.
    public mutating func finish(emit: (Estimate) -> Void) {
        guard let last, let start = restStart, last.t - start >= settings.minimumRestSeconds else { return }
        closeRest(voltage: last.v, time: last.stamp, chargeAh: chargeAh, throughputAh: throughputAh,
                  activeSeconds: activeSeconds, emit: emit)
        restStart = nil
    }

    // MARK: Other estimates

    /// Takes the observer's `soc` / `soc_sigma` and the impedance fits' resistances `fit.R…`.
    public mutating func consume(_ estimate: Estimate, emit: (Estimate) -> Void) {
        guard estimate.value.isFinite else { return }
        switch estimate.quantity {
        case "soc":
            let sigma = estimate.sigma.isFinite ? estimate.sigma : observerSigma
            observer = (estimate.value, sigma, restStart != nil)
        case "soc_sigma":
            observerSigma = estimate.value
            observer?.sigma = estimate.value
        default:
            let name = estimate.quantity.dropFirst(4)
            guard estimate.quantity.hasPrefix("fit.R"), name.count > 1, name.dropFirst().allSatisfy(\.isNumber) else { return }
            let key = referenceKey(String(name), direction: 0, temperature: last?.temperature ?? .nan)
            emit(Estimate(channel: channel, time: estimate.time, quantity: "soh_r.\(name)",
                          value: relative(estimate.value, key), source: "fit"))
        }
    }

    // MARK: Capacity

    private mutating func closeRest(voltage: Double, time: Timestamp, chargeAh: Double, throughputAh: Double,
                                    activeSeconds: Double, emit: (Estimate) -> Void) {
        let taper = beforeRest.i > 0 && beforeRest.i <= settings.ratedCapacityAh / 10
        var next = Anchor(
            chargeAh: chargeAh, throughputAh: throughputAh, activeSeconds: activeSeconds, soc: nil, socSigma: 0, method: nil,
            full: taper && settings.upperVoltage.map { beforeRest.v >= $0 - settings.cutoffTolerance } == true,
            empty: beforeRest.i < 0 && settings.lowerVoltage.map { beforeRest.v <= $0 + settings.cutoffTolerance } == true)
        if let ocv = settings.ocv {
            let soc = ocv.soc(atVoltage: voltage)
            next.soc = soc
            next.socSigma = settings.relaxedVoltageSigma / max(ocv.slope(at: soc), 1e-3)
            next.method = .ocv
        } else if let observer, observer.duringRest {
            next.soc = observer.soc
            next.socSigma = observer.sigma.isFinite ? observer.sigma : 0
            next.method = .observer
        }
        defer { anchor = next }
        guard let previous = anchor else { return }
        let delta = chargeAh - previous.chargeAh
        let segmentThroughput = throughputAh - previous.throughputAh
        let chargeSigma = settings.currentRelativeAccuracy * segmentThroughput
        var measurement: (q: Double, sigma: Double, method: CapacityMeasurement.Method)?
        if let method = next.method, method == previous.method, let s1 = previous.soc, let s2 = next.soc,
           abs(s2 - s1) >= settings.minimumSOCSwing {
            let swing = s2 - s1
            let q = delta / swing
            let socSigma = (previous.socSigma * previous.socSigma + next.socSigma * next.socSigma).squareRoot()
            let relative = ((chargeSigma / delta) * (chargeSigma / delta) + (socSigma / swing) * (socSigma / swing)).squareRoot()
            measurement = (q, abs(q) * relative, method)
        } else if previous.full && next.empty {
            measurement = (-delta, chargeSigma, .throughput)
        }
        guard let measurement, measurement.q > 0 else { return }
        let rated = settings.ratedCapacityAh
        // Mean current while current flowed over the measured segment, in C-rate of the rated capacity.
        let active = activeSeconds - previous.activeSeconds
        let meanRate = active > 0 ? segmentThroughput / (active / 3600) / rated : .infinity
        let checkup = meanRate <= settings.checkupMaximumCRate
        capacities.append(CapacityMeasurement(time: time, equivalentCycles: throughputAh / (2 * rated), capacityAh: measurement.q,
                                              sigmaAh: measurement.sigma, method: measurement.method, checkup: checkup))
        let source = measurement.method.rawValue
        let prefix = checkup ? "checkup_" : ""
        emit(Estimate(channel: channel, time: time, quantity: prefix + "capacity_ah", value: measurement.q, sigma: measurement.sigma,
                      source: source))
        emit(Estimate(channel: channel, time: time, quantity: prefix + "soh_q", value: measurement.q / rated,
                      sigma: measurement.sigma / rated, source: source))
        guard case .success(let forecast) = forecast(), let remaining = forecast.remaining else { return }
        let sigma = forecast.remainingLow.flatMap { low in forecast.remainingHigh.map { ($0 - low) / (2 * 1.645) } } ?? .nan
        emit(Estimate(channel: channel, time: time, quantity: "cycles_to_80pct", value: remaining, sigma: sigma, source: "fade"))
        if let low = forecast.remainingLow {
            emit(Estimate(channel: channel, time: time, quantity: "cycles_to_80pct_low", value: low, source: "fade"))
        }
        if let high = forecast.remainingHigh {
            emit(Estimate(channel: channel, time: time, quantity: "cycles_to_80pct_high", value: high, source: "fade"))
        }
    }

    /// The fade model fitted to the capacities so far and its forecast of 80 % of rated capacity,
    /// searched up to `horizonFactor` times the cycles so far (at least 10,000 cycles).
    /// Capacities at different rates do not lie on one curve: the model is fitted to the regular
    /// cycles' capacities, or to the check-ups' when there are too few regular ones.
    public func forecast(horizonFactor: Double = 20) -> Result<FadeForecast, FadeModel.Failure> {
        let regular = capacities.filter { !$0.checkup }
        let checkups = capacities.filter(\.checkup)
        let series = regular.count >= FadeModel.minimumPoints || regular.count >= checkups.count ? regular : checkups
        let fit = FadeModel.fit(cycles: series.map(\.equivalentCycles), capacities: series.map(\.capacityAh))
        return fit.map { model in
            let now = capacities.last?.equivalentCycles ?? 0
            let crossing = model.crossing(of: 0.8 * settings.ratedCapacityAh, from: now,
                                          horizon: max(now * horizonFactor, 10_000))
            return FadeForecast(model: model, nowCycles: now, remaining: crossing.central.map { $0 - now },
                                remainingLow: crossing.early.map { $0 - now }, remainingHigh: crossing.late.map { $0 - now })
        }
    }

    // MARK: Resistance references

    /// Beginning-of-life references are kept per direction, SOC band (tenths, when SOC is known)
    /// and 5 °C temperature band, so a resistance is compared with one taken in like conditions.
    private func referenceKey(_ name: String, direction: Int8, temperature: Double) -> ReferenceKey {
        var socBand: Int8 = -1
        if let soc = presentSOC() { socBand = Int8(min(max(Int((soc * 10).rounded(.down)), 0), 9)) }
        let temperatureBand = temperature.isFinite ? Int16(clamping: Int((temperature / 5).rounded(.down))) : Int16.min
        return ReferenceKey(name: name, direction: direction, socBand: socBand, temperatureBand: temperatureBand)
    }

    /// `value` over the first value seen under `key` (which becomes the reference).
    private mutating func relative(_ value: Double, _ key: ReferenceKey) -> Double {
        if let reference = references[key] { return value / reference }
        references[key] = value
        return 1
    }

    /// State of charge now: the observer's, else the last anchor's plus the charge counted since.
    private func presentSOC() -> Double? {
        if let observer { return observer.soc }
        guard let anchor, let soc = anchor.soc else { return nil }
        let capacity = capacities.last?.capacityAh ?? settings.ratedCapacityAh
        return soc + (chargeAh - anchor.chargeAh) / capacity
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
