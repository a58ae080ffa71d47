import BenchCore

/// A rule's condition starting or ending for one channel or subject.
struct Transition: Sendable {
    enum Change: Sendable { case raise(String), clear }
    var rule: Int
    var channel: ChannelID?
    /// What a bench-wide alarm concerns (an instrument, the store); empty for channel alarms.
    var subject: String
    var change: Change
    var time: Timestamp
}

/// A condition with debounce: it must hold for `debounce` seconds to raise, and
/// its release must hold as long to clear.
struct Condition: Sendable {
    var active = false
    private var pendingSince = Double.nan

    init(active: Bool = false) { self.active = active }

    /// - Returns: true when the state flipped.
    mutating func update(raise: Bool, release: Bool, at t: Double, debounce: Double) -> Bool {
        let wantsFlip = active ? release : raise
        guard wantsFlip else { pendingSince = .nan; return false }
        if !pendingSince.isFinite { pendingSince = t }
        guard t - pendingSince >= debounce else { return false }
        active.toggle()
        pendingSince = .nan
        return true
    }
}

/// A limit or sensor-dropout rule in plain values.
struct SampleCheck: Sendable {
    var rule: Int
    var quantity: LimitQuantity = .voltage
    var low = -Double.infinity
    var high = Double.infinity
    var hysteresis: Double
    var debounce: Double
    /// Quantities watched by a sensor-dropout rule; nil for a limit.
    var dropout: [LimitQuantity]?

    init?(rule r: Int, _ rule: AlarmRule) {
        self.rule = r
        hysteresis = rule.hysteresis
        debounce = rule.debounce
        switch rule.kind {
        case .limit(let q, let low, let high):
            quantity = q
            self.low = low ?? -.infinity
            self.high = high ?? .infinity
        case .sensorDropout(let quantities):
            dropout = quantities
        default:
            return nil
        }
    }
}

/// Per rule and channel state.
struct RuleSlot: Sendable {
    var condition = Condition()
    /// Time of the latest triggering event (event-raised rules), s.
    var lastEvent = -Double.infinity
    /// Previous value of a per-sweep quantity (resistance jump).
    var previous = Double.nan
}

/// Evaluates every rule against the records it is shown. Deterministic and
/// synchronous: time is the records' own monotonic time, so a simulated bench
/// can be evaluated faster than real time. No allocation per sample.
struct AlarmEvaluator: Sendable {
    let configuration: AlarmConfiguration
    let channels: [ChannelInfo]
    private let channelIndex: [ChannelID: Int]
    /// `watched[rule][channel]`: whether the rule applies to the channel.
    private let watched: [[Bool]]
    private var slots: [[RuleSlot]]
    /// Bench-wide rule slots by subject.
    private var subjectSlots: [[String: RuleSlot]]
    private(set) var features: [ChannelFeatures]
    private var lastSample: [Double]
    /// The per-sample rules, flattened so evaluating them copies no reference-counted value.
    private let sampleChecks: [SampleCheck]
    /// Channel id → position, directly indexed when ids are small (they are numbered densely by the store).
    private let denseIndex: [Int]
    private var lastCohortEvaluation = -Double.infinity
    private var started = false

    init(configuration: AlarmConfiguration, channels: [ChannelInfo]) {
        self.configuration = configuration
        self.channels = channels
        channelIndex = Dictionary(channels.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        let index = channelIndex
        watched = configuration.rules.map { rule in
            var row = Array(repeating: false, count: channels.count)
            for id in rule.channels { if let i = index[id] { row[i] = true } }
            return row
        }
        slots = configuration.rules.map { _ in Array(repeating: RuleSlot(), count: channels.count) }
        subjectSlots = configuration.rules.map { _ in [:] }
        features = channels.map { ChannelFeatures(ratedCapacityAh: $0.ratedCapacityAh) }
        lastSample = Array(repeating: .nan, count: channels.count)
        sampleChecks = configuration.rules.enumerated().compactMap { r, rule in SampleCheck(rule: r, rule) }
        let largest = channels.map { Int($0.id.rawValue) }.max() ?? -1
        var dense = Array(repeating: -1, count: largest < 1 << 16 ? largest + 1 : 0)
        for (c, info) in channels.enumerated() where Int(info.id.rawValue) < dense.count && info.id.rawValue >= 0 {
            dense[Int(info.id.rawValue)] = c
        }
        denseIndex = dense
    }

    private func index(of id: ChannelID) -> Int? {
        let raw = Int(id.rawValue)
        if raw >= 0, raw < denseIndex.count { return denseIndex[raw] >= 0 ? denseIndex[raw] : nil }
        return channelIndex[id]
    }

    /// Marks a condition as holding, for an alarm still open from before a restart,
    /// so that it is cleared only once its end is seen and never raised twice.
    mutating func restore(rule: Int, channel: ChannelID?, subject: String) {
        if let channel, let i = index(of: channel) {
            slots[rule][i].condition = Condition(active: true)
        } else if channel == nil {
            subjectSlots[rule][subject, default: RuleSlot()].condition = Condition(active: true)
        }
    }

    func name(of channel: ChannelID) -> String {
        channelIndex[channel].map { channels[$0].name } ?? channel.description
    }

    // MARK: Samples

    mutating func observe(_ s: Sample, into out: inout [Transition]) {
        guard let c = index(of: s.channel) else { return }
        features[c].observe(s)
        let t = s.time.monotonicSeconds
        lastSample[c] = t
        for check in sampleChecks where watched[check.rule][c] {
            let r = check.rule
            if let dropout = check.dropout {
                var missing: LimitQuantity?
                for q in dropout where !value(q, s, c).isFinite { missing = q; break }
                if slots[r][c].condition.update(raise: missing != nil, release: missing == nil, at: t, debounce: check.debounce) {
                    let change: Transition.Change = slots[r][c].condition.active
                        ? .raise("\(channels[c].name): \(missing?.rawValue ?? "a quantity") reads no value (sensor dropout)") : .clear
                    out.append(Transition(rule: r, channel: s.channel, subject: "", change: change, time: s.time))
                }
                continue
            }
            let x = value(check.quantity, s, c)
            guard x.isFinite else { continue }
            let outside = x > check.high || x < check.low
            let inside = x <= check.high - check.hysteresis && x >= check.low + check.hysteresis
            if slots[r][c].condition.update(raise: outside, release: inside, at: t, debounce: check.debounce) {
                let change: Transition.Change = slots[r][c].condition.active
                    ? .raise(limitMessage(check.quantity, x, low: check.low, high: check.high, channel: c)) : .clear
                out.append(Transition(rule: r, channel: s.channel, subject: "", change: change, time: s.time))
            }
        }
    }

    private func value(_ quantity: LimitQuantity, _ s: Sample, _ c: Int) -> Double {
        switch quantity {
        case .voltage: s.voltage
        case .current: s.current
        case .temperature: s.temperature
        case .temperatureRate: features[c].temperatureRate
        case .voltageNoise: features[c].voltageNoise
        }
    }

    private func limitMessage(_ q: LimitQuantity, _ x: Double, low: Double, high: Double, channel c: Int) -> String {
        let unit = switch q {
        case .voltage, .voltageNoise: "V"
        case .current: "A"
        case .temperature: "°C"
        case .temperatureRate: "K/s"
        }
        let bound = x > high ? "above \(high) \(unit)" : "below \(low) \(unit)"
        return "\(channels[c].name): \(q.rawValue) \(Self.format(x)) \(unit) is \(bound)"
    }

    static func format(_ x: Double) -> String {
        let scaled = (x * 10_000).rounded() / 10_000
        return abs(x) >= 1e-3 || x == 0 ? "\(scaled)" : "\(x)"
    }

    // MARK: Events and estimates

    mutating func observe(_ e: BenchEvent, into out: inout [Transition]) {
        guard let channel = e.channel, let c = index(of: channel) else { return }
        for (r, rule) in configuration.rules.enumerated() where watched[r][c] {
            let matches = switch rule.kind {
            case .fitFailure: e.kind == "kk-failed" || e.kind == "fit-failed" || e.kind == "data-quality"
            case .dataGap: e.kind == "gap"
            default: false
            }
            guard matches else { continue }
            trigger(r, c, at: e.time, message: "\(channels[c].name): \(e.kind): \(e.message)", into: &out)
        }
    }

    mutating func observe(_ e: Estimate, into out: inout [Transition]) {
        guard let c = index(of: e.channel) else { return }
        let t = e.time.monotonicSeconds
        for (r, rule) in configuration.rules.enumerated() where watched[r][c] {
            switch rule.kind {
            case .innovation(let k) where e.quantity == "innovation":
                guard e.value.isFinite, e.sigma.isFinite, e.sigma > 0 else { continue }
                let beyond = abs(e.value) > k * e.sigma
                if slots[r][c].condition.update(raise: beyond, release: !beyond, at: t, debounce: rule.debounce) {
                    let change: Transition.Change = slots[r][c].condition.active
                        ? .raise("\(channels[c].name): observer innovation \(Self.format(e.value)) V beyond \(k)·σ (σ = \(Self.format(e.sigma)) V)") : .clear
                    out.append(Transition(rule: r, channel: e.channel, subject: "", change: change, time: e.time))
                }
            case .resistanceJump(let quantity, let relative) where e.quantity == quantity:
                guard e.value.isFinite, e.value > 0 else { continue }
                let previous = slots[r][c].previous
                slots[r][c].previous = e.value
                guard previous.isFinite, abs(e.value - previous) > relative * previous else { continue }
                let percent = ((e.value / previous - 1) * 1000).rounded() / 10
                trigger(r, c, at: e.time, message: "\(channels[c].name): \(quantity) jumped from \(Self.format(previous)) Ω to \(Self.format(e.value)) Ω (\(percent) %) between sweeps", into: &out)
            default:
                continue
            }
        }
    }

    /// An event-raised condition: raises now, clears `clearAfter` after the last occurrence.
    private mutating func trigger(_ r: Int, _ c: Int, at time: Timestamp, message: String, into out: inout [Transition]) {
        slots[r][c].lastEvent = time.monotonicSeconds
        guard !slots[r][c].condition.active else { return }
        slots[r][c].condition = Condition(active: true)
        out.append(Transition(rule: r, channel: channels[c].id, subject: "", change: .raise(message), time: time))
    }

    // MARK: Periodic checks

    /// Time-driven rules: silences, event-raised conditions ending, links, store, cohorts.
    mutating func tick(now: Timestamp, links: [(name: String, status: LinkStatus)], storeLagSeconds: Double,
                       into out: inout [Transition]) {
        let t = now.monotonicSeconds
        if !started {
            started = true
            for c in lastSample.indices where !lastSample[c].isFinite { lastSample[c] = t }
        }
        for (r, rule) in configuration.rules.enumerated() {
            switch rule.kind {
            case .dataGap(let timeout):
                for c in channels.indices where watched[r][c] {
                    let silent = t - lastSample[c]
                    if silent > timeout {
                        trigger(r, c, at: now, message: "\(channels[c].name): no sample for \(Int(silent)) s", into: &out)
                    }
                    endEventCondition(r, c, now: now, clearAfter: silent > timeout ? .infinity : rule.clearAfter, into: &out)
                }
            case .fitFailure, .resistanceJump:
                for c in channels.indices where watched[r][c] {
                    endEventCondition(r, c, now: now, clearAfter: rule.clearAfter, into: &out)
                }
            case .linkLost:
                for link in links {
                    let down = link.status.state == .down
                    // The subject is the message's prefix, so an alarm reloaded after a restart finds its slot.
                    updateSubject(r, "instrument \(link.name)", raise: down, release: link.status.state == .up, now: now,
                                  message: "instrument \(link.name): link down\(link.status.lastError.map { " (\($0))" } ?? "")", into: &out)
                }
            case .storeLag(let maxSeconds):
                updateSubject(r, "store", raise: storeLagSeconds > maxSeconds, release: storeLagSeconds <= maxSeconds - rule.hysteresis,
                              now: now, message: "store: nothing committed for \(Int(storeLagSeconds)) s", into: &out)
            default:
                continue
            }
        }
        if t - lastCohortEvaluation >= configuration.cohortInterval {
            lastCohortEvaluation = t
            evaluateCohorts(now: now, into: &out)
        }
    }

    private mutating func endEventCondition(_ r: Int, _ c: Int, now: Timestamp, clearAfter: Double, into out: inout [Transition]) {
        guard slots[r][c].condition.active, now.monotonicSeconds - slots[r][c].lastEvent >= clearAfter else { return }
        slots[r][c].condition = Condition()
        out.append(Transition(rule: r, channel: channels[c].id, subject: "", change: .clear, time: now))
    }

    private mutating func updateSubject(_ r: Int, _ subject: String, raise: Bool, release: Bool, now: Timestamp,
                                        message: String, into out: inout [Transition]) {
        let rule = configuration.rules[r]
        var slot = subjectSlots[r][subject] ?? RuleSlot()
        if slot.condition.update(raise: raise, release: release, at: now.monotonicSeconds, debounce: rule.debounce) {
            out.append(Transition(rule: r, channel: nil, subject: subject, change: slot.condition.active ? .raise(message) : .clear, time: now))
        }
        subjectSlots[r][subject] = slot
    }

    // MARK: Cohorts

    /// Score of every watched cell against its cohort; a cell is flagged when it
    /// stands out on the bad side (more fade, more resistance, faster decay).
    mutating func evaluateCohorts(now: Timestamp, into out: inout [Transition]) {
        let t = now.monotonicSeconds
        for (r, rule) in configuration.rules.enumerated() {
            guard case .cohort(let metric, let threshold, let floor) = rule.kind else { continue }
            let members = channels.indices.filter { watched[r][$0] && features[$0].value(of: metric).isFinite }
            guard members.count >= 3, members.count * 2 > rule.channels.count else { continue }
            var values = members.map { features[$0].value(of: metric) }
            if metric == .resistance {
                let m = RobustScore.median(values)
                guard m > 0 else { continue }
                values = values.map { $0 / m - 1 }
            }
            let (median, scale) = RobustScore.center(values, floor: floor)
            for (c, x) in zip(members, values) {
                let score = (x - median) / scale
                let condition = slots[r][c].condition
                if slots[r][c].condition.update(raise: score > threshold, release: score < 0.8 * threshold, at: t, debounce: rule.debounce) {
                    let message = "\(channels[c].name): \(metric.rawValue) \(Self.format(x)) against cohort median \(Self.format(median)) "
                        + "(robust score \((score * 10).rounded() / 10), threshold \(threshold))"
                    out.append(Transition(rule: r, channel: channels[c].id, subject: "",
                                          change: condition.active ? .clear : .raise(message), time: now))
                }
            }
        }
    }
}
