/// A simulated source-measure channel driving a virtual cell: the common core
/// of the simulated galvanostat and of each simulated cycler channel.
/// Protection and the watchdog are enforced here, as a real instrument does.
struct SourceChannel: Sendable, Codable {
    enum Mode: Sendable, Equatable, Codable { case off, rest, constantCurrent, constantVoltage, constantCurrentConstantVoltage }
    enum Trip: Int, Sendable, Codable { case none = 0, overVoltage, underVoltage, overCurrent, overTemperature, watchdog }

    var cell: VirtualCell
    var mode = Mode.off
    /// Current setpoint, A (positive into the cell).
    var current = 0.0
    /// Voltage setpoint, V.
    var voltage = 4.2
    /// Absolute current limit in constant voltage, A.
    var currentLimit = 1.0
    var voltageHigh = 4.3
    var voltageLow = 2.5
    var currentMaximum = 10.0
    var temperatureMaximum = 60.0
    /// Watchdog, s of instrument time (0 = off).
    var watchdog = 0.0
    /// Instrument time of the last command, for the watchdog.
    var lastCommand = 0.0
    var trip = Trip.none
    /// Instrument time since power-up, s.
    var time = 0.0
    /// Whether a CC-CV charge has reached its voltage.
    var inVoltagePhase = false

    init(cell: VirtualCell) { self.cell = cell }

    var isOutputOn: Bool { mode != .off && mode != .rest && trip == .none }

    /// Current the channel drives now.
    func drivenCurrent() -> Double {
        guard trip == .none else { return 0 }
        let holding = (voltage - cell.terminalVoltage(current: 0)) / cell.parameters.r0Ohm
        let limited = min(max(holding, -abs(currentLimit)), abs(currentLimit))
        switch mode {
        case .off, .rest: return 0
        case .constantCurrent: return current
        case .constantVoltage: return limited
        case .constantCurrentConstantVoltage:
            // Follow the CC setpoint until the CV current is smaller in magnitude.
            return current >= 0 ? min(current, limited) : max(current, limited)
        }
    }

    /// Advances instrument time to `target`, in steps short enough for the voltage control.
    mutating func advance(to target: Double) {
        while time < target - 1e-12 {
            let dt = min(0.1, target - time)
            if watchdog > 0, trip == .none, time + dt - lastCommand > watchdog {
                trip = .watchdog
            }
            cell.step(current: drivenCurrent(), dt: dt)
            time += dt
            if mode == .constantCurrentConstantVoltage, abs(drivenCurrent()) < abs(current) { inVoltagePhase = true }
            checkProtection()
        }
    }

    private mutating func checkProtection() {
        guard trip == .none else { return }
        let v = cell.terminalVoltage
        if v > voltageHigh { trip = .overVoltage }
        else if v < voltageLow { trip = .underVoltage }
        else if abs(cell.current) > currentMaximum { trip = .overCurrent }
        else if cell.temperatureC > temperatureMaximum { trip = .overTemperature }
    }

    /// A command arrived: feeds the watchdog.
    mutating func touch() { lastCommand = time }

    mutating func clearTrip() {
        trip = .none
        mode = .off
        lastCommand = time
    }
}
