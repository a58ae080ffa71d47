import Foundation
import Testing
import Storage

/// cellbenchd driving the protocol-true simulated instruments of `cellbench simulate`
/// through the real drivers: a galvanostat and an analyzer on pseudo-terminals.
@Suite(.serialized) struct InstrumentBenchTests {
    @Test func daemonReadsTheSimulatedGalvanostatThroughItsDriverFile() async throws {
        let folder = NSTemporaryDirectory() + "cellbench-instruments-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/sim", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let drivers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("drivers").path
        try """
            time_scale = 1
            [galvanostat]
            link = "sim/dc"
            capacity_ah = 3.0
            soc = 0.5
            """.write(toFile: folder + "/simulator.toml", atomically: true, encoding: .utf8)
        let simulator = Process()
        simulator.executableURL = URL(fileURLWithPath: DaemonProcess.executable).deletingLastPathComponent().appendingPathComponent("cellbench")
        simulator.arguments = ["simulate", "--config", folder + "/simulator.toml"]
        simulator.standardOutput = FileHandle.nullDevice
        try simulator.run()
        defer { simulator.terminate(); simulator.waitUntilExit() }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: folder + "/sim/dc") {
            try await Task.sleep(for: .milliseconds(50))
        }

        let daemon = try DaemonProcess(configText: DaemonProcess.galvanostatConfiguration(drivers: drivers, serial: "sim/dc"), folder: folder)
        try await daemon.start()
        try await Task.sleep(for: .seconds(3))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")

        let reader = try StoreReader(path: daemon.storePath)
        let channel = try reader.channel(named: "G01")
        let samples = try reader.samples(channel: channel.id)
        #expect(samples.count >= 5, "readings every 0.2 s for 3 s: \(daemon.log)")
        // The simulated cell rests at 50 % state of charge: its open-circuit voltage.
        #expect(samples.allSatisfy { $0.voltage > 3.5 && $0.voltage < 4.0 && abs($0.current) < 1e-6 })
        #expect(zip(samples, samples.dropFirst()).allSatisfy { $1.sequence > $0.sequence })
    }
}
