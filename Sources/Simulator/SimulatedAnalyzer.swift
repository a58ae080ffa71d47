import BenchCore
import Foundation
import Numerics
import Synchronization

/// The reference impedance analyzer (`fra-scpi.md`) on a pseudo-terminal,
/// measuring a virtual cell.
public final class SimulatedAnalyzer: SimulatedSerialInstrument, @unchecked Sendable {
    private let device: Locked<Device>

    /// Clients open `path`; `link` (optional) is a stable symlink to the terminal.
    public init(cell: VirtualCell = VirtualCell(), timeScale: Double = 1, link: String? = nil, serial: String = "0001") throws(SimulatorError) {
        let device = Locked(Device(cell: cell, timeScale: timeScale, serial: serial))
        self.device = device
        super.init(server: try LineServer(link: link) { line in device.withLock { $0.handle(line) } })
    }

    /// Resets the instrument as a power cycle would (a running sweep is lost).
    public func powerCycle() { device.withLock { $0.reset() } }
    /// Points of the running sweep measured so far.
    public var pointsDone: Int { device.withLock { $0.update(); return $0.done } }

    struct Device {
        var cell: VirtualCell
        let timeScale: Double
        let serial: String
        let started = BenchClock.monotonicNs()
        var errors: [String] = []
        var mode = "GALV", amplitude = 0.01, bias = 0.0, start = 10_000.0, stop = 0.1
        var pointsPerDecade = 10, cycles = 2
        var state = "IDLE"
        var sweepStart = 0.0
        /// Completion time (instrument s) and frequency of each point of the running or last sweep.
        var schedule: [(done: Double, frequency: Double)] = []
        var data: [String] = []

        init(cell: VirtualCell, timeScale: Double, serial: String) {
            self.cell = cell
            self.timeScale = timeScale
            self.serial = serial
        }

        var now: Double { Double(BenchClock.monotonicNs() - started) / 1e9 * timeScale }

        mutating func reset() {
            mode = "GALV"; amplitude = 0.01; bias = 0; start = 10_000; stop = 0.1; pointsPerDecade = 10; cycles = 2
            state = "IDLE"; schedule = []; data = []
        }

        var done: Int {
            guard state == "RUNNING" || state == "DONE" || state == "ABORTED" else { return 0 }
            return data.count
        }

        /// Brings the running sweep up to now: points whose time has come are measured.
        mutating func update() {
            guard state == "RUNNING" else { return }
            let t = now
            while data.count < schedule.count, schedule[data.count].done <= t {
                let f = schedule[data.count].frequency
                let z = cell.impedance(frequency: f)
                let dcV = cell.terminalVoltage(current: mode == "GALV" ? bias : 0)
                data.append("\(data.count),\(nr3(f)),\(nr3(z.real)),\(nr3(z.imaginary)),\(nr3(dcV)),\(nr3(mode == "GALV" ? bias : 0))")
            }
            if data.count == schedule.count { state = "DONE" }
        }

        mutating func handle(_ line: String) -> String? {
            update()
            let (header, argument) = scpiParts(line)
            switch header {
            case "*IDN?": return "CellBench Simulated,FRA-1,\(serial),1.0"
            case "*RST": reset(); return nil
            case "*CLS": errors = []; return nil
            case "*OPC?": return "1"
            case "SYST:ERR?": return errors.isEmpty ? "0,\"No error\"" : errors.removeFirst()
            case "EIS:INIT":
                if state == "RUNNING" { push("-221,\"Settings conflict\"") } else { begin() }
                return nil
            case "EIS:ABOR":
                if state == "RUNNING" { state = "ABORTED" }
                return nil
            case "EIS:STAT?": return "\(state),\(done),\(state == "IDLE" ? 0 : schedule.count)"
            case "EIS:DATA?":
                guard let k = Int(argument), k >= 0, k < data.count else { push("-222,\"Data out of range\""); return nil }
                return data[k]
            case "EIS:MODE?": return mode
            case "EIS:AMPL?": return nr3(amplitude)
            case "EIS:BIAS?": return nr3(bias)
            case "EIS:FREQ:STAR?": return nr3(start)
            case "EIS:FREQ:STOP?": return nr3(stop)
            case "EIS:PPD?": return String(pointsPerDecade)
            case "EIS:CYCL?": return String(cycles)
            default: break
            }
            guard ["EIS:MODE", "EIS:AMPL", "EIS:BIAS", "EIS:FREQ:STAR", "EIS:FREQ:STOP", "EIS:PPD", "EIS:CYCL"].contains(header) else {
                push(header.isEmpty ? "-100,\"Command error\"" : "-113,\"Undefined header\"")
                return nil
            }
            if state == "RUNNING" { push("-221,\"Settings conflict\""); return nil }
            set(header, argument)
            return nil
        }

        private mutating func set(_ header: String, _ argument: String) {
            let value = Double(argument)
            func inRange(_ r: ClosedRange<Double>) -> Double? {
                guard let v = value, r.contains(v) else { push("-222,\"Data out of range\""); return nil }
                return v
            }
            switch header {
            case "EIS:MODE":
                let m = argument.uppercased()
                if m == "GALV" || m == "POT" { mode = m } else { push("-222,\"Data out of range\"") }
            case "EIS:AMPL": if let v = inRange(mode == "GALV" ? 1e-5...5 : 1e-4...1) { amplitude = v }
            case "EIS:BIAS": if let v = inRange(-100...100) { bias = v }
            case "EIS:FREQ:STAR": if let v = inRange(1e-4...1e6) { start = v }
            case "EIS:FREQ:STOP": if let v = inRange(1e-4...1e6) { stop = v }
            case "EIS:PPD": if let v = inRange(1...50), v == v.rounded() { pointsPerDecade = Int(v) } else if value.map({ $0 != $0.rounded() }) ?? false { push("-222,\"Data out of range\"") }
            case "EIS:CYCL": if let v = inRange(1...100), v == v.rounded() { cycles = Int(v) } else if value.map({ $0 != $0.rounded() }) ?? false { push("-222,\"Data out of range\"") }
            default: break
            }
        }

        private mutating func begin() {
            let settings = SweepSettings(startFrequency: start, stopFrequency: stop, pointsPerDecade: pointsPerDecade)
            let direction = stop >= start ? 1.0 : -1.0
            var t = now
            schedule = (0..<settings.pointCount).map { k in
                let f = start * Double.pow(10, direction * Double(k) / Double(pointsPerDecade))
                t += max(Double(cycles) / f, 0.05)
                return (t, f)
            }
            data = []
            state = "RUNNING"
        }

        private mutating func push(_ error: String) {
            if errors.count < 16 { errors.append(error) }
        }
    }
}
