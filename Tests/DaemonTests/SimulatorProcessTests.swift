import BenchCore
import Foundation
import StatusServer
import Storage
import Testing

/// The demo's shape as real processes: `cellbench simulate` serving the
/// instruments of `examples/simulator.toml`, and `cellbenchd` reading them with
/// `examples/demo.toml` through the real drivers (cycler over Modbus TCP,
/// analyzer and galvanostat on pseudo-terminals).
@Suite(.serialized) struct SimulatorProcessTests {
    static let cyclerChannels = ["A01", "A02", "A03", "A04", "B01", "B02", "B03", "B04"]

    @Test func demoBenchStoresAndStreamsSamplesOfEveryChannel() async throws {
        let bench = try DemoBench()
        try await bench.simulator.start()
        try await bench.daemon.start()

        // B01 and B02 run the demo's pulse-cycling schedule, which starts with a charge.
        let b01 = try? await bench.daemon.waitForSchedule(of: "B01", within: 10) { $0.step != nil }
        #expect(b01?.name == "Demo pulse cycling", "\(bench.daemon.log)")
        #expect(b01?.state == "running")
        #expect(b01?.step == "charge")

        var streamed = Set<String>()
        try await StatusClient.withConnection(socketPath: bench.daemon.socketPath) { connection in
            try await connection.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"]))
            let started = Date()
            var signalled = false
            while let line = try await connection.next() {
                if case .record(.sample(let s)) = line.message { streamed.insert(s.channel) }
                if !signalled && Date().timeIntervalSince(started) > 4 {
                    bench.daemon.signal(SIGTERM)
                    signalled = true
                }
            }
        }
        #expect(try await bench.daemon.waitForExit() == 0, "\(bench.daemon.log)")
        #expect(streamed == Set(Self.cyclerChannels + ["G01"]), "streamed: \(streamed.sorted())")

        let reader = try StoreReader(path: bench.daemon.storePath)
        for name in Self.cyclerChannels {
            let samples = try reader.samples(channel: try reader.channel(named: name).id, limit: Int.max)
            // 10 records/s for about 4 s; the cycler starts every channel CC-CV at 3 A (positive: into the cell).
            #expect(samples.count >= 20, "\(name): \(samples.count) samples")
            #expect(samples.dropFirst().contains { $0.current > 0.1 }, "\(name) is not charging")
            #expect(samples.map(\.sequence) == Array(1...UInt64(max(samples.count, 1))).prefix(samples.count).map { $0 }, "\(name) has a hole")
        }
        #expect(try reader.samples(channel: try reader.channel(named: "G01").id, limit: Int.max).count >= 2)
        let sweeps = try reader.sweeps(channel: try reader.channel(named: "E01").id)
        #expect(sweeps.contains { $0.sweep.status == .complete && !$0.sweep.points.isEmpty }, "no complete sweep of E01: \(bench.daemon.log)")
    }

    /// The simulator process is killed for 10 s and started again on the same
    /// endpoints. The cycler kept running meanwhile (its state file is its
    /// memory), so every record it took reaches the store: sequence numbers
    /// run 1, 2, 3, … and record times are evenly spaced across the outage.
    @Test func killingTheSimulatorForTenSecondsLosesNoCyclerRecord() async throws {
        let bench = try DemoBench()
        try await bench.simulator.start()
        try await bench.daemon.start()
        try await Task.sleep(for: .seconds(3))
        bench.simulator.kill()
        try await Task.sleep(for: .seconds(10))
        try await bench.simulator.start()
        // Cycler and galvanostat back on their links (each reconnects on its own backoff), then time
        // to drain what the cycler recorded while it was away.
        let deadline = Date().addingTimeInterval(30)
        for instrument in ["cycler", "dc"] {
            while !bench.daemon.log.split(separator: "\n").contains(where: { $0.contains("link restored") && $0.contains(instrument) }) {
                guard Date() < deadline else { throw DaemonTestError("\(instrument) link not restored: \(bench.daemon.log)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try await Task.sleep(for: .seconds(3))
        bench.daemon.signal(SIGTERM)
        #expect(try await bench.daemon.waitForExit() == 0, "\(bench.daemon.log)")

        let reader = try StoreReader(path: bench.daemon.storePath)
        let events = try reader.events()
        #expect(events.contains { $0.kind == "link-lost" && $0.instrument == "cycler" })
        #expect(events.contains { $0.kind == "link-restored" && $0.instrument == "cycler" })
        #expect(!events.contains { $0.kind == "gap" && $0.instrument == "cycler" }, "\(events.map(\.message))")
        for name in Self.cyclerChannels {
            let samples = try reader.samples(channel: try reader.channel(named: name).id, limit: Int.max)
            #expect(samples.map(\.sequence) == Array(1...UInt64(max(samples.count, 1))).prefix(samples.count).map { $0 }, "\(name) has a hole")
            // Every 0.1 s of instrument time has its record, the 10 s outage included (tolerance: float rounding).
            let times = samples.map(\.instrumentTime)
            #expect(zip(times, times.dropFirst()).allSatisfy { abs($1 - $0 - 0.1) < 1e-6 }, "\(name): uneven record times")
            #expect((times.last ?? 0) - (times.first ?? 0) > 15, "\(name): records cover \(times.first ?? 0)...\(times.last ?? 0) s")
        }
        // The galvanostat has no memory: for it the restart is a power cycle, reported as a gap, and reading goes on.
        let g01 = try reader.channel(named: "G01").id
        #expect(events.contains { $0.kind == "gap" && $0.channel == g01 })
        #expect(try reader.samples(channel: g01, limit: Int.max).contains { $0.sequence >> 32 == 1 })
    }
}

/// `examples/simulator.toml` and `examples/demo.toml` as shipped, in a
/// temporary folder: links, state file and store inside it, the cycler on a
/// free port, no metrics port, and a short impedance sweep so a test sees it end.
struct DemoBench {
    let folder: String
    let simulator: SimulatorProcess
    let daemon: DaemonProcess

    init() throws {
        folder = NSTemporaryDirectory() + "cellbench-demo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/sim", withIntermediateDirectories: true)
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        func example(_ name: String) throws -> String {
            try String(contentsOf: repository.appendingPathComponent("examples/\(name)"), encoding: .utf8)
        }
        let port = String(try freeTCPPort())
        try example("simulator.toml")
            .replacingOccurrences(of: "\"../state/sim/", with: "\"sim/")
            .replacingOccurrences(of: "tcp_port = 5020", with: "tcp_port = \(port)")
            .write(toFile: folder + "/simulator.toml", atomically: true, encoding: .utf8)
        simulator = SimulatorProcess(config: folder + "/simulator.toml")
        daemon = try DaemonProcess(configText: try example("demo.toml")
            .replacingOccurrences(of: "\"../state/demo.db\"", with: "\"bench.db\"")
            .replacingOccurrences(of: "\"../state/cellbenchd.sock\"", with: "\"bench.sock\"")
            .replacingOccurrences(of: "\"../state/sim/", with: "\"sim/")
            .replacingOccurrences(of: "\"../drivers/", with: "\"\(repository.path)/drivers/")
            .replacingOccurrences(of: "\"schedules/", with: "\"\(repository.path)/examples/schedules/")
            .replacingOccurrences(of: "port = 5020", with: "port = \(port)")
            .replacingOccurrences(of: "metrics_port = 9464", with: "")
            .replacingOccurrences(of: "stop_hz = 0.1", with: "stop_hz = 100"),
            folder: folder)
    }
}

/// `cellbench simulate --config FILE` as a real process.
final class SimulatorProcess: @unchecked Sendable {
    let config: String
    private var process: Process?

    init(config: String) { self.config = config }

    /// Starts the simulator and waits until it has printed where its instruments are.
    func start() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: DaemonProcess.executable).deletingLastPathComponent().appendingPathComponent("cellbench")
        p.arguments = ["simulate", "--config", config]
        let output = config + ".out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        p.standardError = p.standardOutput
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(20)
        while !((try? String(contentsOfFile: output, encoding: .utf8))?.contains("modbus tcp") ?? false) {
            guard p.isRunning, Date() < deadline else {
                throw DaemonTestError("cellbench simulate did not start: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// `kill -9`: no chance to save anything or to say goodbye on its links.
    func kill() {
        guard let p = process else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    deinit {
        if let p = process, p.isRunning { p.terminate(); p.waitUntilExit() }
    }
}

/// A loopback TCP port nobody listens on right now.
func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard fd >= 0, bound else { throw DaemonTestError("no free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}
