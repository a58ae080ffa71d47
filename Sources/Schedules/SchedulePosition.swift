/// Where a channel is in its schedule: everything needed to carry on after a
/// daemon restart. Persisted in the store after every change of step or state
/// and every few seconds while a step runs.
public struct SchedulePosition: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case running, paused
        /// Every step done.
        case finished
        /// Stopped on request.
        case stopped
        /// Stopped because a sample broke the schedule's safety limits.
        case tripped

        /// Whether the schedule still has work to do.
        public var isActive: Bool { self == .running || self == .paused }
    }

    /// Stages of a step; only impedance steps go beyond `source`.
    public enum Phase: String, Codable, Sendable {
        /// The step's own setpoint (rest, CC, CV, CC-CV) until an end condition.
        case source
        /// Impedance step: constant current until the state of charge reaches the step's `at_soc`.
        case adjustingSOC
        /// Impedance step: at rest for `rest_s` before the sweep.
        case relaxing
        /// Impedance step: at rest while the analyzer sweeps.
        case sweeping
    }

    public var state: State
    /// Index of the step at each nesting level, outermost first.
    public var path: [Int]
    /// Iteration (1-based) of each loop enclosing the step: `iterations[k]` belongs to the loop at `path[0...k]`.
    public var iterations: [Int]
    public var phase: Phase
    /// Time the step has run under the daemon's watch, s (pauses and daemon downtime not counted).
    public var stepSeconds: Double
    /// Time in the present phase, s.
    public var phaseSeconds: Double
    /// Charge passed in the step, Ah, positive into the cell.
    public var stepChargeAh: Double
    /// Net charge passed since the schedule started, Ah.
    public var totalChargeAh: Double
    /// State of charge (0…1) counted from the last step that set it; nil while unknown.
    public var soc: Double?
    /// CC-CV step: the voltage setpoint has been reached, so the cut-off current now ends the step.
    public var reachedVoltage: Bool
    /// Impedance step moving to `at_soc`: whether by charging (true) or discharging (false).
    public var socCharging: Bool?
    /// dV/dt end condition: step time (s) and voltage (V) the slope is measured from.
    public var slopeFrom: SlopeReference?
    /// Why the schedule ended, when it did.
    public var message: String?

    public struct SlopeReference: Codable, Sendable, Equatable {
        public var seconds: Double
        public var voltage: Double
    }

    init(path: [Int]) {
        state = .running
        self.path = path
        iterations = []
        phase = .source
        stepSeconds = 0
        phaseSeconds = 0
        stepChargeAh = 0
        totalChargeAh = 0
        reachedVoltage = false
    }
}
