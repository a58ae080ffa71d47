import Foundation
import Testing
import BenchCore
import Simulator
import StatusServer
import Storage
@testable import Daemon

/// The daemon as a real process: simulated bench, real Unix socket, real SQLite file.
@Suite(.serialized) struct EndToEndTests {
    /// Per channel, the stored sequence numbers must run 1, 2, 3, … without a hole.
    private func expectContiguous(_ reader: StoreReader, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var total = 0
        for channel in try reader.channels() {
            let samples = try reader.samples(channel: channel.id, limit: Int.max)
            let sequences = samples.map(\.sequence)
            #expect(sequences == Array(1...UInt64(max(sequences.count, 1))).prefix(sequences.count).map { $0 },
                    "channel \(channel.name) has a hole", sourceLocation: sourceLocation)
            total += samples.count
        }
        return total
    }

    @Test func streamedSamplesAreExactlyWhatTheStoreHoldsAfterSIGTERM() async throws {
        let daemon = try DaemonProcess(channels: 4, rateHz: 50)
        try await daemon.start()
        var streamed: [String: [SampleFields]] = [:]
        try await StatusClient.withConnection(socketPath: daemon.socketPath) { connection in
            try await connection.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"]))
            let started = Date()
            var signalled = false
            while let line = try await connection.next() {
                if case .record(.sample(let s)) = line.message { streamed[s.channel, default: []].append(s) }
                if !signalled && Date().timeIntervalSince(started) > 2 {
                    daemon.signal(SIGTERM)
                    signalled = true
                }
            }
        }
        #expect(try await daemon.waitForExit() == 0, "clean exit: \(daemon.log)")
        #expect(daemon.log.contains("stopped cleanly"))

        let reader = try StoreReader(path: daemon.storePath)
        let total = try expectContiguous(reader)
        #expect(streamed.count == 4)
        var compared = 0
        for channel in try reader.channels() {
            let stored = try reader.samples(channel: channel.id, limit: Int.max)
            let bySequence = Dictionary(stored.map { ($0.sequence, $0) }, uniquingKeysWith: { a, _ in a })
            for s in streamed[channel.name] ?? [] {
                let row = try #require(bySequence[s.sequence], "streamed sample \(channel.name)#\(s.sequence) is not in the store")
                #expect(row.voltage == s.voltage && row.current == s.current && row.charge == s.charge)
                compared += 1
            }
            // Every sample the daemon produced was stored: nothing after the last streamed one is missing.
            #expect(stored.last?.sequence ?? 0 >= streamed[channel.name]?.last?.sequence ?? 0)
        }
        #expect(compared > 300)
        #expect(daemon.log.contains("store closed: \(total) samples"), "final flush count matches the file: \(daemon.log)")
    }

    @Test func killNineMidIngestLeavesEveryCommittedRowIntact() async throws {
        let daemon = try DaemonProcess(channels: 16, rateHz: 100, batchIntervalS: 0.02)
        try await daemon.start()
        try await Task.sleep(for: .milliseconds(1500))
        daemon.signal(SIGKILL)
        _ = try await daemon.waitForExit()

        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        check.arguments = [daemon.storePath, "PRAGMA integrity_check;"]
        let pipe = Pipe()
        check.standardOutput = pipe
        try check.run()
        check.waitUntilExit()
        let verdict = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(verdict.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")

        let before = try expectContiguous(try StoreReader(path: daemon.storePath))
        #expect(before > 500, "the daemon had committed data before the kill")

        // A restart on the same store continues the numbering and keeps the old rows.
        try await daemon.start()
        try await Task.sleep(for: .milliseconds(800))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        let after = try expectContiguous(try StoreReader(path: daemon.storePath))
        #expect(after > before)
    }

    @Test func everyCompletedSweepIsCheckedFittedAndStoredWithItsAnalysis() async throws {
        // At 3000× a cell reaches a rest (and takes a sweep) within a few seconds.
        let daemon = try DaemonProcess(channels: 2, rateHz: 20, timeScale: 3000)
        try await daemon.start()
        let reader = try StoreReader(path: daemon.storePath)
        let deadline = Date().addingTimeInterval(30)
        var analysed: [StoredSweep] = []
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(500))
            analysed = try reader.channels().flatMap { try reader.sweeps(channel: $0.id, limit: 100) }.filter { $0.analysisJSON != nil }
            if !analysed.isEmpty { break }
        }
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        let stored = try #require(analysed.first, "no analysed sweep within 30 s: \(daemon.log)")
        let json = try #require(stored.analysisJSON)
        #expect(json.contains("\"circuit\":\"L0-R0-p(R1,CPE1)-p(R2,CPE2)-W1\""), "\(json.prefix(300))")
        #expect(json.contains("\"fit\""))
        let r0 = try StoreReader(path: daemon.storePath).estimates(channel: stored.sweep.channel, quantity: "fit.R0", limit: 10)
        // The simulated cell's high-frequency resistance is 13 mΩ; the sweep carries 0.2 % noise.
        let value = try #require(r0.first?.value)
        #expect(abs(value - 0.013) < 0.0005, "fit.R0 = \(value)")
    }

    /// A folder with `cell.toml` (the simulated cell's OCV and integer-order circuit) and a
    /// configuration of one simulated channel `A01` that uses it, plus `channelExtra` lines.
    private func observedChannelConfiguration(timeScale: Double, channelExtra: String = "") throws -> (folder: String, config: String) {
        let folder = NSTemporaryDirectory() + "cellbench-observer-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // The simulated cell's own OCV curve and circuit (integer-order branches as R ∥ C).
        let ocv = CellParameters.nmcOCV.map { "\($0.soc),\($0.volts)" }.joined(separator: "\n")
        try "soc,ocv_v\n\(ocv)\n".write(toFile: folder + "/ocv.csv", atomically: true, encoding: .utf8)
        try """
            [cell]
            capacity_ah = 3.0
            ocv = "ocv.csv"
            [model]
            r0_ohm = 0.025
            [[model.branch]]
            r_ohm = 0.012
            t = 800
            alpha = 1.0
            [[model.branch]]
            r_ohm = 0.018
            t = 12000
            alpha = 1.0
            """.write(toFile: folder + "/cell.toml", atomically: true, encoding: .utf8)
        var config = """
            [store]
            path = "bench.db"
            [status]
            socket = "bench.sock"
            [analysis]
            estimate_interval_s = 0.5
            [[instruments]]
            name = "sim"
            kind = "simulator"
            sample_rate_hz = 20
            time_scale = \(timeScale)
            voltage_noise_v = 0.0005
            """
        config += "\n[[channels]]\nname = \"A01\"\ninstrument = \"sim\"\nindex = 0\ncapacity_ah = 3.0\ncell = \"cell.toml\"\n" + channelExtra
        return (folder, config)
    }

    @Test func channelsWithACellFileGetOnlineSOCEstimates() async throws {
        let (folder, config) = try observedChannelConfiguration(timeScale: 30)
        let daemon = try DaemonProcess(configText: config, folder: folder)
        try await daemon.start()
        try await Task.sleep(for: .seconds(3))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")
        let reader = try StoreReader(path: daemon.storePath)
        let channel = try reader.channel(named: "A01")
        let soc = try reader.estimates(channel: channel.id, quantity: "soc", limit: 1000)
        #expect(soc.count >= 4, "published every 0.5 s: \(daemon.log)")
        // Channel 0 of the simulator starts at 15 % and charges at 1C: 3 s at 30× adds 2.5 %.
        let last = try #require(soc.last)
        #expect(last.value > 0.12 && last.value < 0.22, "SOC \(last.value)")
        #expect(last.sigma.isFinite && last.sigma > 0 && last.source == "foekf")
        // The filter's innovation, with the σ it expected, for the alarm engine's innovation rule.
        let innovation = try #require(try reader.estimates(channel: channel.id, quantity: "innovation", limit: 1000).last)
        #expect(innovation.sigma.isFinite && innovation.sigma > 0)
        #expect(abs(innovation.value) < 10 * innovation.sigma, "a well-matched model: \(innovation.value) V, σ \(innovation.sigma) V")
    }

    /// The observer adopts the model of each impedance fit the bench makes of its own sweeps,
    /// announced as an event; with `adopt_sweep_fits = false` it keeps the cell file's model.
    @Test(arguments: [true, false])
    func observerFollowsTheBenchsOwnImpedanceFits(adopt: Bool) async throws {
        // At 3000× the cell reaches a rest (and takes a sweep) within a few seconds.
        let (folder, config) = try observedChannelConfiguration(timeScale: 3000, channelExtra: adopt ? "" : "adopt_sweep_fits = false\n")
        let daemon = try DaemonProcess(configText: config, folder: folder)
        try await daemon.start()
        let reader = try StoreReader(path: daemon.storePath)
        let deadline = Date().addingTimeInterval(30)
        var analysed = 0
        var adopted: [BenchEvent] = []
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(500))
            let channel = try reader.channel(named: "A01")
            analysed = try reader.sweeps(channel: channel.id, limit: 100).filter { $0.analysisJSON != nil }.count
            adopted = try reader.events(channel: channel.id).filter { $0.kind.hasPrefix("observer-model") }
            // A second analysed sweep gives the adoption of the first time to be stored.
            if analysed >= 2 && (!adopt || !adopted.isEmpty) { break }
        }
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")
        #expect(analysed >= 2, "analysed sweeps: \(analysed): \(daemon.log)")
        if adopt {
            let event = try #require(adopted.first, "no observer-model event: \(daemon.log)")
            #expect(event.kind == "observer-model", "\(event.message)")
            // The fitted series resistance of the simulated cell (13 mΩ), not the cell file's 25 mΩ.
            #expect(event.message.contains("R0 0.01"), "\(event.message)")
            #expect(event.message.contains("R ∥ CPE"), "\(event.message)")
        } else {
            #expect(adopted.isEmpty, "\(adopted.map(\.message))")
        }
        // SOC estimates keep coming after the model change.
        let channel = try reader.channel(named: "A01")
        let soc = try reader.estimates(channel: channel.id, quantity: "soc", limit: 100_000)
        let last = try #require(soc.last)
        #expect(last.value.isFinite && last.sigma.isFinite && last.sigma > 0)
    }

    @Test func systemdNotificationsFromTheRealProcess() async throws {
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(channels: 2, rateHz: 10)
        try await daemon.start(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"])
        let messages = LockedMessages()
        let listener = Thread { while let m = socket.receive() { messages.append(m); if m.contains("STOPPING=1") { break } } }
        listener.start()
        try await Task.sleep(for: .milliseconds(2500))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        try await Task.sleep(for: .milliseconds(200))
        let all = messages.all
        #expect(all.first?.hasPrefix("READY=1\nSTATUS=2 channels") == true, "\(all)")
        #expect(all.filter { $0 == "WATCHDOG=1" }.count >= 3, "pinged at half of WATCHDOG_USEC: \(all)")
        #expect(all.last?.hasPrefix("STOPPING=1") == true, "\(all)")
    }

    @Test func badConfigurationExitsNamingFileLineAndKeyWithoutTouchingTheStore() async throws {
        let daemon = try DaemonProcess(channels: 1, rateHz: 10, extra: "sample_rate = 5")
        await #expect(throws: DaemonTestError.self) { try await daemon.start() }
        #expect(try await daemon.waitForExit() == 2)
        #expect(daemon.log.contains("bench.toml:13: key 'instruments[0].sample_rate': unknown key"), "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: daemon.storePath))
    }
}

final class LockedMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func append(_ m: String) { lock.withLock { messages.append(m) } }
    var all: [String] { lock.withLock { messages } }
}
