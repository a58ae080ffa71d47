import BenchCore

/// Ageing of a virtual cell with charge throughput, for health-tracking tests
/// and benchmarks: capacity fades as `Q = Q0 − a·√n − b·n` and resistances grow
/// as `R = R0·(1 + g·n)`, with `n` the equivalent full cycles
/// (throughput / (2·Q0)).
public struct CellAgeing: Sendable, Hashable {
    /// Capacity lost per √(equivalent full cycle), Ah.
    public var capacitySqrtFadeAh: Double
    /// Capacity lost per equivalent full cycle, Ah.
    public var capacityLinearFadeAh: Double
    /// Relative growth of every resistance per equivalent full cycle.
    public var resistanceGrowthPerCycle: Double

    public init(capacitySqrtFadeAh: Double = 0, capacityLinearFadeAh: Double = 0, resistanceGrowthPerCycle: Double = 0) {
        self.capacitySqrtFadeAh = capacitySqrtFadeAh
        self.capacityLinearFadeAh = capacityLinearFadeAh
        self.resistanceGrowthPerCycle = resistanceGrowthPerCycle
    }

    /// The parameters of a cell that started as `fresh` after `throughputAh` of charge
    /// (charged plus discharged).
    public func aged(_ fresh: CellParameters, throughputAh: Double) -> CellParameters {
        let cycles = max(throughputAh, 0) / (2 * fresh.capacityAh)
        var aged = fresh
        aged.capacityAh = max(fresh.capacityAh - capacitySqrtFadeAh * cycles.squareRoot() - capacityLinearFadeAh * cycles,
                              0.01 * fresh.capacityAh)
        let growth = 1 + resistanceGrowthPerCycle * cycles
        aged.r0Ohm = fresh.r0Ohm * growth
        aged.branches = fresh.branches.map { CellParameters.RCBranch(rOhm: $0.rOhm * growth, cFarad: $0.cFarad / growth) }
        aged.arcs = fresh.arcs.map { CellParameters.Arc(rOhm: $0.rOhm * growth, tauS: $0.tauS, exponent: $0.exponent) }
        return aged
    }
}

/// A virtual cell cycled CC-CV by its program while it ages with throughput,
/// sampled at a fixed interval, faster than real time. The ageing is applied at
/// the start of each charge, so the capacity is constant over each whole cycle.
public struct AgeingCellRun: Sendable {
    public let channel: ChannelID
    public let fresh: CellParameters
    public let ageing: CellAgeing
    public private(set) var cell: VirtualCell
    public private(set) var program: CyclingProgram
    /// Charge throughput so far, Ah.
    public private(set) var throughputAh = 0.0
    /// Wall time of the run's start, ns since the Unix epoch (sample wall times follow simulated time).
    public let startWallNs: Int64
    /// When set, every `interval`-th cycle is a check-up run at `rate` (C-rate of the fresh cell) for
    /// both charge and discharge, the others at the program's own currents.
    public var checkup: (interval: Int, rate: Double)?
    private let regularCurrents: (charge: Double, discharge: Double)
    private var sequence: UInt64 = 0

    /// A discharge from the end of a charge to the lower cut-off, as the simulator itself counted it.
    public struct Discharge: Sendable, Hashable {
        /// Charge the cell gave, Ah.
        public var ah: Double
        /// Discharge current, A (negative).
        public var current: Double
        /// True capacity of the cell during the discharge, Ah.
        public var capacityAh: Double
    }
    /// Every discharge completed so far that began from a full charge: the truth tests compare with.
    public private(set) var discharges: [Discharge] = []
    private var chargeAtFull: Double?

    public init(channel: ChannelID, fresh: CellParameters = CellParameters(), ageing: CellAgeing, program: CyclingProgram? = nil,
                startSOC: Double = 0.5, startWallNs: Int64 = 1_700_000_000_000_000_000) {
        self.channel = channel
        self.fresh = fresh
        self.ageing = ageing
        self.cell = VirtualCell(parameters: fresh, soc: startSOC)
        let program = program ?? CyclingProgram(capacityAh: fresh.capacityAh)
        self.program = program
        self.regularCurrents = (program.chargeCurrent, program.dischargeCurrent)
        self.startWallNs = startWallNs
    }

    /// The true capacity now, Ah.
    public var capacityAh: Double { cell.parameters.capacityAh }

    /// Advances `dt` seconds and returns the sample the instrument reports at the end of the step.
    public mutating func step(dt: Double) -> Sample {
        let cyclesBefore = program.cycles, phaseBefore = program.phase
        let (current, _) = program.nextCurrent(for: cell)
        if program.phase != phaseBefore {
            if program.phase == .restAfterCharge { chargeAtFull = cell.chargeAh }
            if program.phase == .restAfterDischarge, let full = chargeAtFull {
                discharges.append(Discharge(ah: full - cell.chargeAh, current: -program.dischargeCurrent, capacityAh: capacityAh))
            }
        }
        if program.cycles != cyclesBefore {
            cell.parameters = ageing.aged(fresh, throughputAh: throughputAh)
            if let checkup {
                let slow = program.cycles % max(checkup.interval, 1) == 0
                program.chargeCurrent = slow ? checkup.rate * fresh.capacityAh : regularCurrents.charge
                program.dischargeCurrent = slow ? checkup.rate * fresh.capacityAh : regularCurrents.discharge
            }
        }
        cell.step(current: current, dt: dt)
        throughputAh += abs(current) * dt / 3600
        sequence += 1
        let ns = Int64((cell.time * 1e9).rounded())
        return Sample(channel: channel, sequence: sequence, time: Timestamp(monotonicNs: ns, wallNs: startWallNs + ns),
                      instrumentTime: cell.time, voltage: cell.terminalVoltage, current: current,
                      temperature: cell.temperatureC, charge: cell.chargeAh)
    }
}
