import BenchCore
import Foundation

/// The reference galvanostat / potentiostat (`dc-scpi.md`) on a
/// pseudo-terminal, sourcing into a virtual cell. Protection and the
/// watchdog act on their own, as on the real instrument.
public final class SimulatedGalvanostat: SimulatedSerialInstrument, @unchecked Sendable {
    private let device: Locked<Device>

    public init(cell: VirtualCell = VirtualCell(), timeScale: Double = 1, link: String? = nil, serial: String = "0001") throws(SimulatorError) {
        let device = Locked(Device(source: SourceChannel(cell: cell), timeScale: timeScale, serial: serial))
        self.device = device
        super.init(server: try LineServer(link: link) { line in device.withLock { $0.handle(line) } })
    }

    /// Power cycle: output off, settings and reading counter back to their power-up values.
    public func powerCycle() { device.withLock { $0.powerUp() } }

    /// Present trip code (0 none, 5 watchdog, …) and output state, for tests.
    public var trip: (code: Int, outputOn: Bool) {
        device.withLock { d in
            d.update()
            return (d.source.trip.rawValue, d.output && d.source.trip == .none)
        }
    }

    struct Device {
        var source: SourceChannel
        let timeScale: Double
        let serial: String
        var started = BenchClock.monotonicNs()
        var errors: [String] = []
        var function = SourceChannel.Mode.rest
        var output = false
        var readings = 0

        init(source: SourceChannel, timeScale: Double, serial: String) {
            self.source = source
            self.timeScale = timeScale
            self.serial = serial
        }

        mutating func powerUp() {
            let cell = source.cell
            source = SourceChannel(cell: cell)
            started = BenchClock.monotonicNs()
            errors = []; function = .rest; output = false; readings = 0
        }

        mutating func update() {
            source.advance(to: Double(BenchClock.monotonicNs() - started) / 1e9 * timeScale)
            if source.trip != .none { output = false }
        }

        mutating func handle(_ line: String) -> String? {
            update()
            source.touch()
            let (header, argument) = scpiParts(line)
            let value = Double(argument).flatMap { $0.isFinite ? $0 : nil }
            switch header {
            case "*IDN?": return "CellBench Simulated,DC-1,\(serial),1.0"
            case "*RST": powerUpSettings(); return nil
            case "*CLS": errors = []; return nil
            case "*OPC?": return "1"
            case "SYST:ERR?": return errors.isEmpty ? "0,\"No error\"" : errors.removeFirst()
            case "OUTP?": return output ? "1" : "0"
            case "OUTP":
                switch argument.uppercased() {
                case "ON", "1": if source.trip == .none { output = true } else { push("-221,\"Settings conflict\"") }
                case "OFF", "0": output = false
                default: push("-222,\"Data out of range\"")
                }
            case "SOUR:FUNC":
                switch argument.uppercased() {
                case "CURR": function = .constantCurrent
                case "VOLT": function = .constantVoltage
                case "REST": function = .rest
                default: push("-222,\"Data out of range\"")
                }
            case "SOUR:CURR": set(value, -100...100) { $0.source.current = $1 }
            case "SOUR:VOLT": set(value, 0...10) { $0.source.voltage = $1 }
            case "SOUR:CURR:LIM": set(value, 0...100) { $0.source.currentLimit = $1 }
            case "PROT:VOLT:HIGH": set(value, 0...10) { $0.source.voltageHigh = $1 }
            case "PROT:VOLT:LOW": set(value, 0...10) { $0.source.voltageLow = $1 }
            case "PROT:CURR": set(value, 0...100) { $0.source.currentMaximum = $1 }
            case "PROT:TEMP": set(value, -40...200) { $0.source.temperatureMaximum = $1 }
            case "PROT:WDOG": set(value, 0...86_400) { $0.source.watchdog = $1 }
            case "PROT:TRIP?": return String(source.trip.rawValue)
            case "PROT:CLE": source.clearTrip(); output = false
            case "READ?":
                let reply = "\(readings),\(nr3(source.time)),\(nr3(source.cell.terminalVoltage)),\(nr3(source.cell.current)),\(nr3(source.cell.temperatureC))"
                readings += 1
                return reply
            case "MEAS:VOLT?": return nr3(source.cell.terminalVoltage)
            case "MEAS:CURR?": return nr3(source.cell.current)
            case "MEAS:TEMP?": return nr3(source.cell.temperatureC)
            default:
                push(header.isEmpty ? "-100,\"Command error\"" : "-113,\"Undefined header\"")
            }
            source.mode = output ? function : .off
            return nil
        }

        private mutating func powerUpSettings() {
            let kept = (source.cell, source.time, source.lastCommand)
            source = SourceChannel(cell: kept.0)
            source.time = kept.1
            source.lastCommand = kept.2
            function = .rest
            output = false
        }

        private mutating func set(_ value: Double?, _ range: ClosedRange<Double>, _ apply: (inout Device, Double) -> Void) {
            guard let value, range.contains(value) else { push("-222,\"Data out of range\""); return }
            apply(&self, value)
        }

        private mutating func push(_ error: String) {
            if errors.count < 16 { errors.append(error) }
        }
    }
}
