import BenchCore
import Instruments

/// A test protocol for one channel, as read from a schedule file (docs/schedules.md).
/// Units are SI: A, V, s, Ah, V/s; current is positive into the cell.
public struct Schedule: Sendable, Equatable {
    public var name: String
    /// Seconds between records asked of the instrument (nil: the instrument's configured interval).
    public var recordInterval: Double?
    /// Limits pushed to the instrument as its protection and also checked by the daemon on every sample.
    public var safety: ProtectionLimits
    /// Cell capacity used to reach an `at_soc` target, Ah (nil: the channel's rated capacity).
    public var capacityAh: Double?
    public var steps: [Step]

    public init(name: String, recordInterval: Double? = nil, safety: ProtectionLimits, capacityAh: Double? = nil, steps: [Step]) {
        self.name = name
        self.recordInterval = recordInterval
        self.safety = safety
        self.capacityAh = capacityAh
        self.steps = steps
    }

    /// The step at `path` (one index per nesting level), or nil when the path leads nowhere.
    public func step(at path: [Int]) -> Step? {
        var block = steps
        var found: Step?
        for index in path {
            guard block.indices.contains(index) else { return nil }
            found = block[index]
            if case .loop(_, let inner) = block[index].action { block = inner } else { block = [] }
        }
        return found
    }

    /// Whether any step (at any depth) needs a state of charge.
    var needsCapacity: Bool {
        func scan(_ block: [Step]) -> Bool {
            block.contains { step in
                switch step.action {
                case .impedance(let eis): return eis.atSOC != nil
                case .loop(_, let inner): return scan(inner)
                default: return false
                }
            }
        }
        return scan(steps)
    }
}

/// One step of a schedule.
public struct Step: Sendable, Equatable {
    public var name: String
    public var action: Action
    /// The step ends as soon as any of these is met.
    public var end: [EndCondition]
    /// State of charge (0…1) the cell is known to have when this step ends by one of its own conditions.
    public var socAfter: Double?
    /// Inside a loop: run only on iterations 1, 1 + every, 1 + 2·every, … of the innermost loop.
    public var every: Int?

    public init(name: String, action: Action, end: [EndCondition] = [], socAfter: Double? = nil, every: Int? = nil) {
        self.name = name
        self.action = action
        self.end = end
        self.socAfter = socAfter
        self.every = every
    }

    public enum Action: Sendable, Equatable {
        case rest
        case constantCurrent(current: Double)
        case constantVoltage(voltage: Double, currentLimit: Double)
        /// Constant current to `voltage`, then constant voltage until |I| falls below `cutoff`.
        case constantCurrentConstantVoltage(current: Double, voltage: Double, cutoff: Double)
        case impedance(ImpedanceStep)
        /// The block `steps`, `count` times.
        case loop(count: Int, steps: [Step])
    }
}

/// An impedance sweep: the source is put at rest, the analyzer sweeps the cell, then the schedule continues.
public struct ImpedanceStep: Sendable, Equatable {
    public var sweep: SweepSettings
    /// State of charge (0…1) reached by constant current before the sweep (nil: sweep where the cell is).
    public var atSOC: Double?
    /// Magnitude of the current that moves the cell to `atSOC`, A.
    public var socCurrent: Double
    /// Rest before the sweep, s, so the cell relaxes.
    public var restSeconds: Double

    public init(sweep: SweepSettings, atSOC: Double? = nil, socCurrent: Double = 1, restSeconds: Double = 0) {
        self.sweep = sweep
        self.atSOC = atSOC
        self.socCurrent = socCurrent
        self.restSeconds = restSeconds
    }
}

/// What ends a step.
public enum EndCondition: Sendable, Equatable {
    /// Step time reached, s.
    case time(Double)
    case voltageAbove(Double)
    case voltageBelow(Double)
    /// |I| below, A.
    case currentBelow(Double)
    /// |charge passed in the step| reached, Ah.
    case charge(Double)
    /// |dV/dt| below, V/s, measured over `window` s.
    case voltageSlopeBelow(Double, window: Double)
}
