import BenchCore
import Foundation
import Testing

/// A fresh directory for one test's store files, removed when the test ends.
final class TempDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("cellbench-storage-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs the `sqlite3` shell (an independent reader of the file) and returns its output.
func sqliteShell(_ database: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = ["-batch", database]
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(sql.utf8))
    try input.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ShellFailure(message: problems) }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

struct ShellFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { "sqlite3 failed: \(message)" }
}

/// Polls `condition` until it holds or `seconds` pass; returns whether it held.
func eventually(within seconds: Double = 10, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = BenchClock.monotonicNs() + Int64(seconds * 1e9)
    while BenchClock.monotonicNs() < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return try condition()
}

/// 2026-03-01T12:00:00Z in ns (checked with `date -u -d @1772366400`).
let march1Noon: Int64 = 1_772_366_400_000_000_000

func sample(_ channel: ChannelID, _ sequence: UInt64, wallNs: Int64 = march1Noon, voltage: Double = 3.7,
            current: Double = 1.0, temperature: Double = 25) -> Sample {
    Sample(channel: channel, sequence: sequence, time: Timestamp(monotonicNs: Int64(sequence) * 1000, wallNs: wallNs),
           instrumentTime: Double(sequence), voltage: voltage, current: current, temperature: temperature,
           charge: Double(sequence) * 1e-3)
}
