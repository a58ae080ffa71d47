import BenchCore
import Foundation
import Testing
@testable import Storage

@Suite struct ExportTests {
    /// A store with channel A01 and four samples, two of them at the same instant.
    private func knownStore(_ dir: TempDirectory) async throws -> String {
        let path = dir.file("export.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks())
        let a01 = try writer.registerChannel(name: "A01", instrument: "cycler-1", instrumentChannel: 3, ratedCapacityAh: 2.5)
        _ = try writer.registerChannel(name: "A02", instrument: "cycler-1", instrumentChannel: 4)
        let rows: [(UInt64, Int64, Double, Double, Double)] = [
            // sequence, wall ns after noon, voltage, current, temperature
            (1, 0, 3.7, 1.5, 25.0),
            (2, 500_000_000, 3.71, 1.5, .nan),
            (3, 500_000_000, 3.72, 1.5, .nan),
            (4, 1_250_000_400, 3.7, -2.0, 25.5),
        ]
        for (sequence, offset, voltage, current, temperature) in rows {
            streams.samples.push(sample(a01.id, sequence, wallNs: march1Noon + offset, voltage: voltage, current: current,
                                        temperature: temperature))
        }
        try await writer.finish()
        return path
    }

    @Test func csvMatchesTheRecordingFormatExactly() async throws {
        let dir = try TempDirectory()
        let reader = try StoreReader(path: try await knownStore(dir))
        var text = ""
        let summary = try RecordingExport.write(from: reader, channelName: "A01", source: "cellbenchd store export.db") {
            text += $0
        }
        #expect(text == """
            # channel: A01
            # instrument: cycler-1
            # start_time: 2026-03-01T12:00:00.000000Z
            # source: cellbenchd store export.db
            time_s,current_a,voltage_v,temperature_c
            0.000000,1.5,3.7,25.0
            0.500000,1.5,3.71,
            0.500001,1.5,3.72,
            1.250000,-2.0,3.7,25.5

            """)
        #expect(summary == RecordingExport.Summary(rows: 4, adjustedTimes: 1))
    }

    @Test func rangeIsInclusiveAndTimesStartAtTheFirstExportedRow() async throws {
        let dir = try TempDirectory()
        let reader = try StoreReader(path: try await knownStore(dir))
        var text = ""
        try RecordingExport.write(from: reader, channelName: "A01", from: march1Noon + 500_000_000,
                                  to: march1Noon + 1_250_000_400, source: "s") { text += $0 }
        let lines = text.split(separator: "\n")
        #expect(lines[2] == "# start_time: 2026-03-01T12:00:00.500000Z")
        #expect(lines.dropFirst(5) == ["0.000000,1.5,3.71,", "0.000001,1.5,3.72,", "0.750000,-2.0,3.7,25.5"])
    }

    @Test func badExportRequestsNameTheArgument() async throws {
        let dir = try TempDirectory()
        let path = try await knownStore(dir)
        let reader = try StoreReader(path: path)
        #expect(throws: StoreError.unknownChannel(name: "B07", path: path)) {
            try RecordingExport.write(from: reader, channelName: "B07", source: "s") { _ in }
        }
        #expect(throws: ExportError.noSamples(channel: "A02", from: nil, to: nil)) {
            try RecordingExport.write(from: reader, channelName: "A02", source: "s") { _ in }
        }
        #expect(throws: ExportError.emptyRange(from: "2026-03-01T12:00:01.000000Z", to: "2026-03-01T12:00:00.000000Z")) {
            try RecordingExport.write(from: reader, channelName: "A01", from: march1Noon + 1_000_000_000, to: march1Noon,
                                      source: "s") { _ in }
        }
        #expect(throws: ExportError.noSamples(channel: "A01", from: "2026-03-02T00:00:00.000000Z", to: nil)) {
            try RecordingExport.write(from: reader, channelName: "A01", from: march1Noon + 43_200_000_000_000,
                                      source: "s") { _ in }
        }
    }

    // Expected values checked with GNU date: `date -u -d 2026-03-01 +%s` = 1772323200,
    // `date -u -d 2026-03-01T13:00:00+01:00 +%s` = 1772366400.
    @Test(arguments: [
        ("1772366400", march1Noon),
        ("1772366400.25", march1Noon + 250_000_000),
        ("2026-03-01T12:00:00Z", march1Noon),
        ("2026-03-01T13:00:00+01:00", march1Noon),
        ("2026-03-01T07:30:00-0430", march1Noon),
        ("2026-03-01 12:00:00.123456789Z", march1Noon + 123_456_789),
        ("2026-03-01T12:00Z", march1Noon),
        ("2026-03-01", 1_772_323_200_000_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
    ])
    func timeArgumentsParse(text: String, ns: Int64) throws {
        #expect(try WallTime.parse(text, argument: "--from") == ns)
    }

    @Test(arguments: ["", "yesterday", "2026-02-30", "2025-02-29", "2026-13-01", "2026-03-01T12:00",
                      "2026-03-01T25:00:00Z", "2026-03-01T12:00:00+1", "2026-03-01T12:00:00Zjunk",
                      "99999999999999999", "12.", "2026-3-1"])
    func badTimeArgumentsAreRefusedByName(text: String) {
        #expect {
            try WallTime.parse(text, argument: "--to")
        } throws: { error in
            guard let error = error as? WallTime.ParseError else { return false }
            return error.argument == "--to" && error.text == text && "\(error)".hasPrefix("--to: '\(text)'")
        }
    }

    @Test func iso8601FormattingRoundTrips() throws {
        #expect(WallTime.iso8601(wallNs: march1Noon + 1_500) == "2026-03-01T12:00:00.000001Z")
        #expect(WallTime.iso8601(wallNs: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(WallTime.iso8601(wallNs: -1_000) == "1969-12-31T23:59:59.999999Z")
        for ns in [march1Noon, 1_709_164_800_000_000_000, 951_782_400_123_456_000] as [Int64] {
            #expect(try WallTime.parse(WallTime.iso8601(wallNs: ns), argument: "t") == ns)
        }
    }

    /// The `cellbench export` verb end to end: the built executable beside the test bundle.
    @Test func exportVerbWritesFileAndReportsBadArguments() async throws {
        let dir = try TempDirectory()
        let path = try await knownStore(dir)
        let out = dir.file("a01.csv")
        let ok = try runCellbench(["export", "--store", path, "--channel", "A01", "--from", "2026-03-01T12:00:00.4Z",
                                   "--to", "1772366401", "--format", "csv", "--out", out])
        #expect(ok.status == 0)
        #expect(ok.stderr.contains("1 of 2 rows"))
        let csv = try String(contentsOfFile: out, encoding: .utf8)
        #expect(csv.hasSuffix("time_s,current_a,voltage_v,temperature_c\n0.000000,1.5,3.71,\n0.000001,1.5,3.72,\n"))
        #expect(csv.contains("# source: cellbenchd store export.db\n"))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))

        let unknown = try runCellbench(["export", "--store", path, "--channel", "B07"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no channel named 'B07'"))
        let badTime = try runCellbench(["export", "--store", path, "--channel", "A01", "--from", "noon"])
        #expect(badTime.status != 0 && badTime.stderr.contains("--from: 'noon' is not a time"))
        let missing = try runCellbench(["export", "--store", dir.file("nope.db"), "--channel", "A01"])
        #expect(missing.status != 0 && missing.stderr.contains("no store at"))
        let format = try runCellbench(["export", "--store", path, "--channel", "A01", "--format", "xlsx"])
        #expect(format.status != 0 && format.stderr.contains("--format"))
        let failed = try runCellbench(["export", "--store", path, "--channel", "A02", "--out", dir.file("a02.csv")])
        #expect(failed.status != 0 && failed.stderr.contains("no samples"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("a02.csv")))
        #expect(!FileManager.default.fileExists(atPath: dir.file("a02.csv.partial")))
    }

    private func runCellbench(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = bundle.appendingPathComponent("cellbench")
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "cellbench not built at \(executable.path)")
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}
