import BenchCore

/// A channel's test schedule as `status` and the schedule requests report it (docs/schedules.md).
public struct ScheduleStatus: Sendable, Codable, Equatable {
    public struct LoopCounter: Sendable, Codable, Equatable {
        public var name: String
        /// 1-based.
        public var iteration: Int
        public var count: Int

        public init(name: String, iteration: Int, count: Int) {
            self.name = name
            self.iteration = iteration
            self.count = count
        }
    }

    /// The schedule's name.
    public var name: String
    /// The file it was read from.
    public var file: String
    /// `running`, `paused`, `finished`, `stopped` or `tripped`.
    public var state: String
    /// Name of the present step (absent once finished).
    public var step: String?
    /// Stage of the step: `source`, or for impedance steps `adjustingSOC`, `relaxing`, `sweeping`.
    public var phase: String?
    /// Index of the step at each nesting level, outermost first (0-based).
    public var path: [Int]
    /// Enclosing loops, outermost first.
    public var loops: [LoopCounter]
    /// Time the step has run, s.
    public var stepSeconds: Double
    /// Charge passed in the step, Ah.
    public var stepChargeAh: Double
    /// State of charge counted by the schedule, 0…1 (absent while unknown).
    public var soc: Double?
    /// Why the schedule ended, when it did.
    public var message: String?

    public init(name: String, file: String, state: String, step: String?, phase: String?, path: [Int], loops: [LoopCounter],
                stepSeconds: Double, stepChargeAh: Double, soc: Double?, message: String?) {
        self.name = name
        self.file = file
        self.state = state
        self.step = step
        self.phase = phase
        self.path = path
        self.loops = loops
        self.stepSeconds = stepSeconds
        self.stepChargeAh = stepChargeAh
        self.soc = soc
        self.message = message
    }
}

/// A `run`, `stop`, `pause` or `resume` request after validation.
public enum ScheduleRequest: Sendable, Equatable {
    /// Start `source` (the text of schedule file `file`) on the channel, replacing what it ran before.
    case run(channel: ChannelID, file: String, source: String)
    case stop(ChannelID)
    case pause(ChannelID)
    case resume(ChannelID)

    public var channel: ChannelID {
        switch self {
        case .run(let c, _, _), .stop(let c), .pause(let c), .resume(let c): c
        }
    }
}

/// The server runs without schedules.
public struct SchedulesUnavailable: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "this server runs no schedules" }
}
