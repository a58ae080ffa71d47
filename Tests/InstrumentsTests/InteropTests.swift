import BenchCore
import Foundation
import Instruments
import Simulator
import Testing

/// The simulator and the cycler driver against Modbus software we did not write:
/// mbpoll (Debian, libmodbus-independent client code) and pymodbus (PyPI, pure Python).
@Suite("Modbus interoperability", .serialized)
struct InteropTests {
    /// Runs a program to completion and returns its standard output.
    func run(_ program: String, _ arguments: [String], timeout: Double = 20) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    static let mbpoll = "/usr/bin/mbpoll"

    /// The git-ignored virtual environment with pymodbus, created on first use.
    static let python: String = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(Repository.root)/scripts/interop-venv")
        let output = Pipe()
        process.standardOutput = output
        try? process.run()
        process.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    @Test("mbpoll reads and writes the simulated cycler over Modbus TCP")
    func mbpollTCP() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.mbpoll), "mbpoll is installed by scripts/setup")
        let sim = try SimulatedCycler(cells: [VirtualCell(), VirtualCell(), VirtualCell()])
        defer { sim.stop() }
        // mbpoll numbers registers from 1: reference 1 is address 0.
        let device = try await run(Self.mbpoll, ["-m", "tcp", "-p", "\(sim.port)", "-a", "1", "-t", "3", "-r", "1", "-c", "2", "-1", "127.0.0.1"])
        #expect(device.contains("[1]: \t1") && device.contains("[2]: \t3"), "\(device)")
        // Record interval of channel 1 (address 1208, f32 high word first) written by mbpoll, read back by cellbench.
        _ = try await run(Self.mbpoll, ["-m", "tcp", "-p", "\(sim.port)", "-a", "1", "-t", "4:float", "-B", "-r", "1209", "-1", "127.0.0.1", "0.25"])
        let bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: sim.port))
        let words = try await bus.readRegisters(.holding, unit: 1, address: 1208, count: 2)
        await bus.shutdown()
        #expect(RegisterField(address: 0, type: .f32).decode(words, base: 0) == 0.25)
    }

    @Test("mbpoll reads the simulated cycler over Modbus RTU on a pseudo-terminal")
    func mbpollRTU() async throws {
        let bus = try SimulatedRTUBus(cyclers: [7: [VirtualCell(), VirtualCell()]])
        defer { bus.stop() }
        let out = try await run(Self.mbpoll, ["-m", "rtu", "-b", "115200", "-P", "even", "-a", "7", "-t", "3", "-r", "1", "-c", "2", "-1", bus.path])
        #expect(out.contains("[1]: \t1") && out.contains("[2]: \t2"), "\(out)")
    }

    @Test("A pymodbus client reads the simulated cycler and gets exception 03 for a refused value")
    func pymodbusClient() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell(), VirtualCell()])
        defer { sim.stop() }
        let out = try await run(Self.python, ["\(Repository.root)/Tests/InstrumentsTests/Interop/read_cycler.py", "\(sim.port)"])
        let values = Dictionary(out.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let space = line.firstIndex(of: " ") else { return nil }
            return (String(line[..<space]), String(line[line.index(after: space)...]))
        }, uniquingKeysWith: { a, _ in a })
        #expect(values["map_version"] == "1")
        #expect(values["channels"] == "2")
        #expect(values["model"] == "CellBench Simulated Cycler")
        #expect(values["state"] == "0")
        #expect(values["refused_exception"] == "3")
    }

    @Test("The cycler driver reads an independent pymodbus implementation of the map without loss")
    func driverAgainstPymodbus() async throws {
        let port = Int.random(in: 20_000...60_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.python)
        server.arguments = ["\(Repository.root)/Tests/InstrumentsTests/Interop/cycler_server.py", "\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the pymodbus server does not stop on SIGTERM.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }

        guard case .modbus(let map) = try DriverDefinition.load(path: Repository.driver("reference-cycler.toml")).body else { return }
        let bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: port), timing: ModbusTiming(responseTimeout: 1))
        let limits = ProtectionLimits(voltageHigh: 4.3, voltageLow: 2.5, current: 5, temperature: 60)
        let driver = CyclerDriver(name: "pymodbus", map: map, bus: bus, unit: 1,
                                  channels: [CyclerChannelConfig(channel: ChannelID(0), index: 0, protection: limits, recordInterval: 0.05, watchdog: 0)],
                                  pollInterval: 0.05, backoff: Backoff(initial: 0.2, maximum: 0.5), logger: testLogger)
        let streams = BenchStreams()
        // The server may take a moment to listen: the driver retries.
        let samples = try await withRunning(driver, streams: streams, expectLinkUp: false) {
            try await expectEventually(15) { streams.samples.written >= 60 }
        }
        await bus.shutdown()
        let sequences = samples.map(\.sequence)
        #expect(sequences.first == 1 && sequences == Array(1...UInt64(max(1, sequences.count))))
        // The server's records are a known function of their sequence number (f32 on the wire).
        for s in samples {
            #expect(abs(s.voltage - (3.0 + 0.001 * Double(s.sequence))) < 1e-6 * 4)
            #expect(s.current == 0.5 && s.temperature == 25)
            #expect(abs(s.charge - Double(s.sequence) / 1000) < 1e-12)
        }
        #expect(!events(streams).contains { $0.kind == "gap" })
    }
}
