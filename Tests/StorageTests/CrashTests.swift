import BenchCore
import Foundation
import Testing
@testable import Storage

@Suite struct CrashTests {
    /// A writer killed with SIGKILL in the middle of ingest leaves a store that
    /// passes `integrity_check`, opens, and holds whole batches only.
    @Test func killedWriterLeavesAnIntactStore() async throws {
        let dir = try TempDirectory()
        let path = dir.file("killed.db")
        let bench = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("cellbench-bench")
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "cellbench-bench not built at \(bench.path)")
        let process = Process()
        process.executableURL = bench
        // 64 channels, samples spread round-robin, up to 1024 per transaction.
        process.arguments = ["ingest", "--samples", "50000000", "--channels", "64", "--batch-size", "1024", "--store", path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let committed = await eventually(within: 60) {
            // Never let the probe create the file: the writer must be the one to create its store.
            guard FileManager.default.fileExists(atPath: path) else { return false }
            return (try? sqliteShell(path, "SELECT count(*) FROM samples")).flatMap { Int($0) }.map { $0 >= 20_000 } ?? false
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(committed)
        #expect(process.terminationReason == .uncaughtSignal)

        #expect(try sqliteShell(path, "PRAGMA integrity_check") == "ok")
        let reader = try StoreReader(path: path)
        let latest = try reader.latestSampleSequences()
        let total = try Int(sqliteShell(path, "SELECT count(*) FROM samples")) ?? -1
        // Batches hold consecutive samples of the stream and commit whole, so the store
        // holds a prefix 0..<total of it. Sample n went to channel n % 64 + 1 with
        // sequence n / 64 + 1: channel c holds 1…(number of n < total with n % 64 == c - 1).
        #expect(total >= 20_000)
        #expect(latest.count == 64)
        for c in 1...64 {
            #expect(latest[ChannelID(c)] == UInt64((total - (c - 1) + 63) / 64))
        }
        let last = try #require(latest[ChannelID(64)])
        #expect(try reader.samples(channel: ChannelID(64)).map(\.sequence) == Array(1...last))
    }
}
