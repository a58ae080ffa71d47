import BenchCore
import Instruments

/// What the engine asks of the channel's instruments.
public enum ScheduleCommand: Sendable, Equatable {
    /// Push the schedule's safety limits as the instrument's protection, and its record interval.
    case protect(ProtectionLimits, recordInterval: Double?)
    case source(SourceSetpoint)
    /// Switch the channel's output off (end of schedule, stop, safety breach).
    case outputOff
    /// Run the analyzer's sweep on the cell; answer with `sweepFinished`.
    case sweep(SweepSettings)
}

/// A schedule that cannot run on a channel.
public struct ScheduleError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a schedule as a pure state machine: samples and sweep completions in,
/// commands out. Deterministic and free of I/O, so every step and end
/// condition can be tested without instruments; its `position` is the whole
/// state worth persisting.
public struct ScheduleEngine: Sendable {
    public let schedule: Schedule
    /// Capacity used to count state of charge, Ah (nil: unknown).
    public let capacityAh: Double?
    public private(set) var position: SchedulePosition
    /// Monotonic time (s) and current (A) of the previous sample; not persisted, so downtime is not counted.
    private var previous: (seconds: Double, current: Double)?

    /// Share of the safety current a sample may exceed before it counts as a breach (measurement noise).
    public static let currentTolerance = 0.01
    /// A CC-CV step is in its constant-voltage phase once the voltage is this close to the setpoint, V.
    public static let voltageReachedTolerance = 0.01
    /// An impedance step's `at_soc` counts as reached within this much state of charge.
    public static let socTolerance = 0.001

    /// A fresh run from the first step. `ratedCapacityAh` is the channel's rated capacity (0: unknown).
    public init(schedule: Schedule, ratedCapacityAh: Double) throws(ScheduleError) {
        self.schedule = schedule
        capacityAh = try Self.capacity(schedule, ratedCapacityAh)
        position = SchedulePosition(path: [0])
        settle()
    }

    /// Carries on from a persisted position.
    public init(schedule: Schedule, ratedCapacityAh: Double, resuming saved: SchedulePosition) throws(ScheduleError) {
        self.schedule = schedule
        capacityAh = try Self.capacity(schedule, ratedCapacityAh)
        guard schedule.step(at: saved.path) != nil, saved.iterations.count == max(0, saved.path.count - 1) || !saved.state.isActive else {
            throw ScheduleError("the saved position \(saved.path) does not fit schedule '\(schedule.name)'")
        }
        position = saved
    }

    private static func capacity(_ schedule: Schedule, _ rated: Double) throws(ScheduleError) -> Double? {
        let capacity = schedule.capacityAh ?? (rated > 0 ? rated : nil)
        if schedule.needsCapacity && capacity == nil {
            throw ScheduleError("schedule '\(schedule.name)' moves to a state of charge: give it capacity_ah or the channel a capacity_ah")
        }
        return capacity
    }

    // MARK: - Status

    /// The present step (nil once the schedule has ended past its last step).
    public var step: Step? { position.state == .finished ? nil : schedule.step(at: position.path) }

    /// Each enclosing loop's name, iteration (1-based) and count, outermost first.
    public var loops: [(name: String, iteration: Int, count: Int)] {
        position.iterations.indices.compactMap { level in
            guard let loop = schedule.step(at: Array(position.path[...level])), case .loop(let count, _) = loop.action else { return nil }
            return (loop.name, position.iterations[level], count)
        }
    }

    // MARK: - Inputs

    /// Commands that put the instrument where the position says: at the start of a run and after a restart.
    public mutating func begin() -> [ScheduleCommand] {
        previous = nil
        guard position.state.isActive else { return [] }
        let protect = ScheduleCommand.protect(schedule.safety, recordInterval: schedule.recordInterval)
        return [protect] + (position.state == .running ? phaseCommands() : [.source(.rest)])
    }

    /// Consumes one sample of the channel.
    public mutating func consume(_ sample: Sample) -> [ScheduleCommand] {
        guard position.state.isActive else { return [] }
        if let breach = safetyBreach(sample) {
            position.state = .tripped
            position.message = breach
            return [.outputOff]
        }
        let now = sample.time.monotonicSeconds
        defer { previous = (now, sample.current) }
        guard position.state == .running else { return [] }
        guard let previous, now > previous.seconds else { return [] }
        let dt = now - previous.seconds
        let charge = (previous.current + sample.current) / 2 * dt / 3600
        position.stepSeconds += dt
        position.phaseSeconds += dt
        position.stepChargeAh += charge
        position.totalChargeAh += charge
        if let capacityAh, let soc = position.soc { position.soc = soc + charge / capacityAh }
        return evaluate(sample)
    }

    /// The analyzer's sweep ended (complete or aborted): the impedance step is done.
    public mutating func sweepFinished() -> [ScheduleCommand] {
        guard position.state.isActive, position.phase == .sweeping else { return [] }
        return advance()
    }

    /// Holds the channel at rest; step time and charge stop counting.
    public mutating func pause() -> [ScheduleCommand] {
        guard position.state == .running else { return [] }
        position.state = .paused
        return [.source(.rest)]
    }

    /// Carries on after `pause`, from where the step was.
    public mutating func resume() -> [ScheduleCommand] {
        guard position.state == .paused else { return [] }
        position.state = .running
        previous = nil
        return phaseCommands()
    }

    public mutating func stop(reason: String = "stopped on request") -> [ScheduleCommand] {
        guard position.state.isActive else { return [] }
        position.state = .stopped
        position.message = reason
        return [.outputOff]
    }

    // MARK: - Steps

    private func safetyBreach(_ s: Sample) -> String? {
        let limits = schedule.safety
        if s.voltage > limits.voltageHigh { return "voltage \(s.voltage) V above the safety limit \(limits.voltageHigh) V" }
        if s.voltage < limits.voltageLow { return "voltage \(s.voltage) V below the safety limit \(limits.voltageLow) V" }
        if abs(s.current) > limits.current * (1 + Self.currentTolerance) {
            return "current \(s.current) A beyond the safety limit ±\(limits.current) A"
        }
        if s.temperature.isFinite && s.temperature > limits.temperature {
            return "temperature \(s.temperature) °C above the safety limit \(limits.temperature) °C"
        }
        return nil
    }

    private mutating func evaluate(_ s: Sample) -> [ScheduleCommand] {
        guard let step else { return [] }
        switch (step.action, position.phase) {
        case (.impedance(let eis), .adjustingSOC):
            guard let target = eis.atSOC, let soc = position.soc, let charging = position.socCharging else { return afterSOC(eis) }
            return (charging ? soc >= target : soc <= target) ? afterSOC(eis) : []
        case (.impedance(let eis), .relaxing):
            return position.phaseSeconds >= eis.restSeconds ? enterSweeping(eis) : []
        case (.impedance, _):
            return []
        case (.constantCurrentConstantVoltage(let current, let voltage, let cutoff), _):
            if abs(s.voltage - voltage) <= Self.voltageReachedTolerance { position.reachedVoltage = true }
            if position.reachedVoltage && abs(s.current) < cutoff {
                if step.socAfter == nil && current > 0 { position.soc = 1 }
                return finishStep(step)
            }
            return endReached(step, s) ? finishStep(step) : []
        default:
            return endReached(step, s) ? finishStep(step) : []
        }
    }

    private mutating func endReached(_ step: Step, _ s: Sample) -> Bool {
        for condition in step.end {
            switch condition {
            case .time(let limit): if position.stepSeconds >= limit { return true }
            case .voltageAbove(let v): if s.voltage >= v { return true }
            case .voltageBelow(let v): if s.voltage <= v { return true }
            case .currentBelow(let i): if abs(s.current) < i { return true }
            case .charge(let q): if abs(position.stepChargeAh) >= q { return true }
            case .voltageSlopeBelow(let slope, let window):
                guard let from = position.slopeFrom else {
                    position.slopeFrom = .init(seconds: position.stepSeconds, voltage: s.voltage)
                    continue
                }
                let span = position.stepSeconds - from.seconds
                guard span >= window else { continue }
                if abs(s.voltage - from.voltage) / span < slope { return true }
                position.slopeFrom = .init(seconds: position.stepSeconds, voltage: s.voltage)
            }
        }
        return false
    }

    private mutating func finishStep(_ step: Step) -> [ScheduleCommand] {
        if let soc = step.socAfter { position.soc = soc }
        return advance()
    }

    /// Moves to the next step to run, through loops and `every` filters; ends the schedule after the last.
    private mutating func advance() -> [ScheduleCommand] {
        position.path[position.path.count - 1] += 1
        settle()
        guard position.state == .running else { return position.state == .finished ? [.outputOff] : [] }
        return phaseCommands()
    }

    /// From `path` (possibly past the end of its block), finds the step to run and enters it.
    private mutating func settle() {
        while true {
            let level = position.path.count - 1
            let block = level == 0 ? schedule.steps : loopBody(at: Array(position.path.dropLast()))
            let index = position.path[level]
            if index < block.count {
                let candidate = block[index]
                if case .loop = candidate.action {
                    position.path.append(0)
                    position.iterations.append(1)
                    continue
                }
                if let every = candidate.every, let iteration = position.iterations.last, (iteration - 1) % every != 0 {
                    position.path[level] += 1
                    continue
                }
                enter(candidate)
                return
            }
            guard level > 0 else {
                position.state = .finished
                position.message = "all steps done"
                position.path = [schedule.steps.count - 1]
                position.iterations = []
                return
            }
            if case .loop(let count, _)? = schedule.step(at: Array(position.path.dropLast()))?.action,
               let iteration = position.iterations.last, iteration < count {
                position.iterations[position.iterations.count - 1] += 1
                position.path[level] = 0
            } else {
                position.path.removeLast()
                position.iterations.removeLast()
                position.path[level - 1] += 1
            }
        }
    }

    private func loopBody(at path: [Int]) -> [Step] {
        if case .loop(_, let steps)? = schedule.step(at: path)?.action { return steps }
        return []
    }

    private mutating func enter(_ step: Step) {
        position.stepSeconds = 0
        position.phaseSeconds = 0
        position.stepChargeAh = 0
        position.reachedVoltage = false
        position.slopeFrom = nil
        position.phase = .source
        position.socCharging = nil
        guard case .impedance(let eis) = step.action else { return }
        // The move to `at_soc` needs a known state of charge; without one the sweep is taken where the cell is.
        if let target = eis.atSOC, let soc = position.soc, abs(target - soc) > Self.socTolerance {
            position.phase = .adjustingSOC
            position.socCharging = target > soc
        } else {
            position.phase = eis.restSeconds > 0 ? .relaxing : .sweeping
        }
    }

    /// The state of charge is where the impedance step wants it: rest, then sweep.
    private mutating func afterSOC(_ eis: ImpedanceStep) -> [ScheduleCommand] {
        position.phaseSeconds = 0
        if eis.restSeconds > 0 {
            position.phase = .relaxing
            return [.source(.rest)]
        }
        return enterSweeping(eis)
    }

    private mutating func enterSweeping(_ eis: ImpedanceStep) -> [ScheduleCommand] {
        position.phase = .sweeping
        position.phaseSeconds = 0
        return [.source(.rest), .sweep(eis.sweep)]
    }

    /// The commands of the present step and phase.
    private func phaseCommands() -> [ScheduleCommand] {
        guard let step else { return [] }
        switch step.action {
        case .rest: return [.source(.rest)]
        case .constantCurrent(let i): return [.source(.constantCurrent(current: i))]
        case .constantVoltage(let v, let limit): return [.source(.constantVoltage(voltage: v, currentLimit: limit))]
        case .constantCurrentConstantVoltage(let i, let v, _):
            return [.source(.constantCurrentConstantVoltage(current: i, voltage: v, currentLimit: abs(i)))]
        case .impedance(let eis):
            switch position.phase {
            case .adjustingSOC:
                return [.source(.constantCurrent(current: position.socCharging == false ? -eis.socCurrent : eis.socCurrent))]
            case .relaxing, .source: return [.source(.rest)]
            case .sweeping: return [.source(.rest), .sweep(eis.sweep)]
            }
        case .loop: return []
        }
    }
}
