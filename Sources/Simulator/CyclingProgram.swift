/// The CC-CV cycling a simulated channel runs on its own: charge at constant
/// current to the upper voltage, hold it until the current tapers to the
/// cut-off, rest, discharge at constant current to the lower voltage, rest,
/// and again. It decides the current for each step from the cell's state.
public struct CyclingProgram: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable {
        case chargeCC = "charge-cc", chargeCV = "charge-cv", restAfterCharge = "rest", discharge = "discharge", restAfterDischarge = "rest-discharged"
    }

    public var chargeCurrent: Double
    public var dischargeCurrent: Double
    public var upperVoltage: Double
    public var lowerVoltage: Double
    public var cutoffCurrent: Double
    public var restSeconds: Double
    public private(set) var phase: Phase = .chargeCC
    public private(set) var phaseStart: Double = 0
    /// Completed charge–discharge cycles.
    public private(set) var cycles = 0

    /// A 1C charge / 1C discharge program for a cell of `capacityAh`, 4.2 V to 3.0 V, C/20 cut-off.
    public init(capacityAh: Double, chargeRate: Double = 1, dischargeRate: Double = 1, upperVoltage: Double = 4.15,
                lowerVoltage: Double = 3.0, restSeconds: Double = 600, startIn phase: Phase = .chargeCC) {
        self.chargeCurrent = chargeRate * capacityAh
        self.dischargeCurrent = dischargeRate * capacityAh
        self.upperVoltage = upperVoltage
        self.lowerVoltage = lowerVoltage
        self.cutoffCurrent = capacityAh / 20
        self.restSeconds = restSeconds
        self.phase = phase
    }

    /// Current to apply over the next step (A, positive into the cell), updating the phase.
    /// Returns whether a rest phase just began (the moment the bench takes impedance sweeps).
    public mutating func nextCurrent(for cell: VirtualCell) -> (current: Double, restBegan: Bool) {
        let now = cell.time
        switch phase {
        case .chargeCC:
            if cell.terminalVoltage(current: chargeCurrent) >= upperVoltage { enter(.chargeCV, at: now) }
            else { return (chargeCurrent, false) }
            return nextCurrent(for: cell)
        case .chargeCV:
            // The current that puts the terminal exactly at the upper voltage now.
            let ohmic = cell.parameters.r0Ohm
            let held = (upperVoltage - cell.terminalVoltage(current: 0)) / ohmic
            let current = min(max(held, 0), chargeCurrent)
            if current <= cutoffCurrent {
                enter(.restAfterCharge, at: now)
                return (0, true)
            }
            return (current, false)
        case .restAfterCharge:
            if now - phaseStart >= restSeconds { enter(.discharge, at: now); return nextCurrent(for: cell) }
            return (0, false)
        case .discharge:
            if cell.terminalVoltage(current: -dischargeCurrent) <= lowerVoltage {
                enter(.restAfterDischarge, at: now)
                return (0, true)
            }
            return (-dischargeCurrent, false)
        case .restAfterDischarge:
            if now - phaseStart >= restSeconds {
                cycles += 1
                enter(.chargeCC, at: now)
                return nextCurrent(for: cell)
            }
            return (0, false)
        }
    }

    private mutating func enter(_ next: Phase, at time: Double) {
        phase = next
        phaseStart = time
    }
}
