import Foundation
import StatusServer
import Testing

/// A real `cellbenchd` process on a temporary folder, for end-to-end tests.
final class DaemonProcess: @unchecked Sendable {
    let folder: String
    let configPath: String
    let storePath: String
    let socketPath: String
    let logPath: String
    private(set) var process: Process?

    /// Path of the `cellbenchd` built beside this test bundle.
    static var executable: String {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = me.deletingLastPathComponent()
        // The test bundle may be a directory (`*.xctest`) or a file; walk up to the build folder.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("cellbenchd").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("cellbenchd").path
    }

    /// A bench of `channels` simulated cells sampled at `rateHz`.
    init(channels: Int, rateHz: Double, timeScale: Double = 30, batchIntervalS: Double = 0.05, extra: String = "") throws {
        folder = NSTemporaryDirectory() + "cellbench-e2e-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        configPath = folder + "/bench.toml"
        storePath = folder + "/bench.db"
        socketPath = folder + "/bench.sock"
        logPath = folder + "/daemon.log"
        var text = Self.storeAndSocket(batchIntervalS: batchIntervalS) + """
            [[instruments]]
            name = "sim"
            kind = "simulator"
            sample_rate_hz = \(rateHz)
            time_scale = \(timeScale)
            \(extra)

            """
        for i in 0..<channels {
            text += "\n[[channels]]\nname = \"C\(String(format: "%02d", i))\"\ninstrument = \"sim\"\nindex = \(i)\ncapacity_ah = 3.0\n"
        }
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// A daemon with a configuration written as is, in `folder` (which the test owns).
    init(configText: String, folder: String) throws {
        self.folder = folder
        configPath = folder + "/bench.toml"
        storePath = folder + "/bench.db"
        socketPath = folder + "/bench.sock"
        logPath = folder + "/daemon.log"
        try configText.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the daemon and waits until its status socket answers.
    func start(environment: [String: String] = [:]) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = ["--config", configPath]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.merge(environment) { $1 }
        p.environment = env
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard p.isRunning, Date() < deadline else {
                throw DaemonTestError("cellbenchd did not open its socket: \(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func signal(_ sig: Int32) {
        if let pid = process?.processIdentifier { kill(pid, sig) }
    }

    /// Waits for the process to exit; returns its status.
    func waitForExit(timeout: TimeInterval = 30) async throws -> Int32 {
        guard let p = process else { return -1 }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            guard Date() < deadline else {
                p.terminate()
                throw DaemonTestError("cellbenchd did not exit within \(timeout) s: \(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return p.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The daemon's answer to `status`.
    func snapshot() async throws -> StatusSnapshot {
        try await StatusClient.withConnection(socketPath: socketPath) { connection in
            try await connection.send(StatusRequest(op: "status", id: .number(1)))
            guard case .status(let reply) = try await connection.reply(to: .number(1)).message else { throw DaemonTestError("no status reply") }
            return reply.snapshot
        }
    }

    /// Polls `status` until `channel`'s schedule satisfies `condition`.
    func waitForSchedule(of channel: String, within seconds: Double = 30,
                         _ condition: (ScheduleStatus) -> Bool) async throws -> ScheduleStatus {
        let deadline = Date().addingTimeInterval(seconds)
        var last: ScheduleStatus?
        while Date() < deadline {
            last = try await snapshot().channels.first { $0.name == channel }?.schedule
            if let last, condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DaemonTestError("\(channel)'s schedule never reached the expected state; last: \(String(describing: last)); log: \(log)")
    }

    /// Runs the `cellbench` built beside `cellbenchd` to completion, on a thread of its own.
    static func cellbench(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let url = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("cellbench")
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = url
                    process.arguments = arguments
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    process.standardError = pipe
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
                })
            }.start()
        }
    }

    deinit {
        if let p = process, p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: folder)
    }
}

struct DaemonTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension DaemonProcess {
    /// `[store]` and `[status]` with the store file and the socket beside the configuration (seven lines).
    static func storeAndSocket(batchIntervalS: Double = 0.05) -> String {
        "[store]\npath = \"bench.db\"\nbatch_interval_s = \(batchIntervalS)\n\n[status]\nsocket = \"bench.sock\"\n\n"
    }

    /// A configuration whose only instrument is the reference galvanostat (driver file under `drivers`)
    /// on the pseudo-terminal `serial`, wired to channel `G01`; `channelExtra` adds lines to the channel.
    static func galvanostatConfiguration(drivers: String, serial: String, channelExtra: String = "") -> String {
        storeAndSocket() + """
            [[instruments]]
            name = "dc"
            kind = "galvanostat"
            driver = "\(drivers)/reference-dc.toml"
            serial = "\(serial)"
            record_interval_s = 0.2
            watchdog_s = 2
            [instruments.protection]
            voltage_high_v = 4.25
            voltage_low_v = 2.7
            current_a = 3
            temperature_c = 55
            [[channels]]
            name = "G01"
            instrument = "dc"
            index = 0
            capacity_ah = 3.0
            \(channelExtra)
            """
    }

    /// The start of a configuration whose only instrument is a `simulated-cohort` named `cohort`, store and
    /// socket beside the file; `faults` maps channel names to fault names. Rules and channels follow.
    static func cohortConfiguration(timeScale: Double, sampleInterval: Double = 10, onsetHours: Double = 0,
                                    faults: [String: String] = [:]) -> String {
        var text = storeAndSocket() + """
            [[instruments]]
            name = "cohort"
            kind = "simulated-cohort"
            time_scale = \(timeScale)
            sample_interval_s = \(sampleInterval)
            fault_onset_h = \(onsetHours)
            [instruments.faults]

            """
        for (channel, fault) in faults.sorted(by: { $0.key < $1.key }) { text += "\(channel) = \"\(fault)\"\n" }
        return text
    }
}
