/// Resistance from current steps in cycling data: after the current jumps by at
/// least `minimumStepA` from a level held steady for a while, ΔV/ΔI at fixed
/// delays (0.1 s, 1 s, 10 s by default) while the new current holds.
///
/// Convention: a sample's current flowed over the interval that ends at the
/// sample, so a step starts at the time of the last sample at the old current,
/// and the voltage before the step is that sample's.
struct StepResistance: Sendable {
    struct Result {
        var delayIndex: Int
        var ohms: Double
        /// Current change of the step, A (positive: towards charging).
        var deltaCurrent: Double
    }

    private struct Pending {
        var t0: Double, v0: Double, i0: Double, i1: Double
        var nextDelay = 0
    }

    let delays: [Double]
    let minimumStepA: Double
    let steadyBeforeSeconds: Double
    let relativeBand: Double
    let absoluteBand: Double
    private var steadyCurrent = Double.nan
    private var steadySince = 0.0
    private var pending: Pending?
    private var previous: (t: Double, v: Double, i: Double)?

    init(settings: HealthSettings) {
        delays = settings.stepDelays.sorted()
        minimumStepA = settings.minimumStepA
        steadyBeforeSeconds = settings.steadyBeforeStepSeconds
        relativeBand = settings.steadyRelativeBand
        absoluteBand = settings.restCurrentA
    }

    private func holds(_ current: Double, at level: Double) -> Bool {
        abs(current - level) <= max(relativeBand * abs(level), absoluteBand)
    }

    /// Forgets everything (after a gap in the data).
    mutating func reset() {
        steadyCurrent = .nan
        pending = nil
        previous = nil
    }

    /// Feeds one sample (time s, voltage V, current A); reports each delay's resistance once it is reached.
    mutating func consume(time t: Double, voltage v: Double, current i: Double, report: (Result) -> Void) {
        defer { previous = (t, v, i) }
        guard let previous else {
            steadyCurrent = i
            steadySince = t
            return
        }
        if let step = pending {
            pending = holds(i, at: step.i1) ? advance(step, time: t, voltage: v, previous: previous, report: report) : nil
        }
        if holds(i, at: steadyCurrent) { return }
        if abs(i - previous.i) >= minimumStepA, previous.t - steadySince >= steadyBeforeSeconds, holds(previous.i, at: steadyCurrent) {
            let step = Pending(t0: previous.t, v0: previous.v, i0: previous.i, i1: i)
            pending = advance(step, time: t, voltage: v, previous: previous, report: report)
        }
        steadyCurrent = i
        steadySince = previous.t
    }

    /// Reports the delays reached by time `t`; nil once all are done.
    private func advance(_ step: Pending, time t: Double, voltage v: Double, previous: (t: Double, v: Double, i: Double),
                         report: (Result) -> Void) -> Pending? {
        var step = step
        while step.nextDelay < delays.count, t - step.t0 >= delays[step.nextDelay] - 1e-6 {
            let delay = delays[step.nextDelay]
            let target = step.t0 + delay
            var voltage: Double?
            if previous.t > step.t0 + 1e-9 {
                // Both neighbours are after the step: interpolate.
                voltage = previous.v + (v - previous.v) * (target - previous.t) / (t - previous.t)
            } else if abs(t - target) <= 0.05 * delay + 1e-6 {
                // First sample after the step, close enough to the delay to stand for it.
                voltage = v
            }
            if let voltage {
                report(Result(delayIndex: step.nextDelay, ohms: (voltage - step.v0) / (step.i1 - step.i0),
                              deltaCurrent: step.i1 - step.i0))
            }
            step.nextDelay += 1
        }
        return step.nextDelay < delays.count ? step : nil
    }
}
