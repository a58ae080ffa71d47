import BenchCore
import Foundation
import Synchronization
import Testing
@testable import StatusServer

/// `cellbench status` and `cellbench tail` run as real processes against a real server.
@Suite(.timeLimit(.minutes(1))) struct CommandLineTests {
    /// The `cellbench` executable built beside this test bundle.
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("cellbench")
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// A running `cellbench` process whose output is collected as it arrives.
    final class Run: Sendable {
        let process: Process
        private let out = Mutex<[UInt8]>([])
        private let err = Mutex<[UInt8]>([])
        private let exit: AsyncStream<Int32>
        /// One element per output pipe that reached its end.
        private let outputEnded: AsyncStream<Void>

        init(_ arguments: [String], environment: [String: String] = [:], executable: URL = CommandLineTests.executable,
             input: String? = nil) throws {
            process = Process()
            process.executableURL = executable
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let (exit, exited) = AsyncStream.makeStream(of: Int32.self)
            self.exit = exit
            let stdout = Pipe(), stderr = Pipe()
            process.standardOutput = stdout
            process.standardError = stderr
            let (outputEnded, ended) = AsyncStream.makeStream(of: Void.self)
            self.outputEnded = outputEnded
            Self.collect(stdout, ended) { [self] data in out.withLock { $0 += data } }
            Self.collect(stderr, ended) { [self] data in err.withLock { $0 += data } }
            process.terminationHandler = { p in
                exited.yield(p.terminationStatus)
                exited.finish()
            }
            let stdin = Pipe()
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
        }

        /// Reads a pipe to its end on a thread of its own. (A `readabilityHandler` would leave a
        /// dispatch source watching the descriptor after the handle closes it; once the number is
        /// reused elsewhere in the test process, libdispatch's event loop reads foreign events.)
        private static func collect(_ pipe: Pipe, _ ended: AsyncStream<Void>.Continuation,
                                    _ append: @escaping @Sendable (Data) -> Void) {
            let handle = pipe.fileHandleForReading
            let reader = Thread {
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    append(data)
                }
                ended.yield()
            }
            reader.start()
        }

        var stdout: String { out.withLock { String(decoding: $0, as: UTF8.self) } }

        func finished() async -> Outcome {
            var status: Int32 = -1
            for await s in exit { status = s }
            // Output written just before exit may still be in the pipes: read both to their end.
            // A process spawned concurrently by another test can inherit a pipe's write end and
            // delay its end, so wait at most 2 s; the output itself is already in the pipe.
            let outputEnded = self.outputEnded
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var open = 2
                    for await _ in outputEnded {
                        open -= 1
                        if open == 0 { break }
                    }
                }
                group.addTask { try? await Task.sleep(for: .seconds(2)) }
                await group.next()
                group.cancelAll()
            }
            return Outcome(status: status, stdout: stdout, stderr: err.withLock { String(decoding: $0, as: UTF8.self) })
        }
    }

    @Test func statusPrintsReadableTables() async throws {
        try await TestServer.run { t in
            let result = await (try Run(["status", "--socket", t.socketPath])).finished()
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "cellbenchd up 1 h 00 min; store lag 17 records, 0.25 s")
            let a01 = try #require(lines.first { $0.hasPrefix("A01") })
            // Latest sample 1 s before the snapshot; values as the fixture set them.
            #expect(a01.split(separator: " ", omittingEmptySubsequences: true)
                    == ["A01", "cycler-1", "cc-charge", "3.7100", "1.2500", "24.5", "42.0", "%", "1.0", "s"])
            #expect(lines.contains { $0.hasPrefix("B02") && $0.hasSuffix("no data") })
            #expect(lines.contains { $0.hasPrefix("cycler-2") && $0.contains("down")
                        && $0.hasSuffix("no reply to *IDN? within 0.5 s on /dev/ttyUSB1 (16 min 40 s ago)") })
            #expect(lines.contains { $0.hasPrefix("samples_ingested") && $0.hasSuffix("12345") })
        }
    }

    @Test func statusJSONIsTheServerReplyAndSocketComesFromTheEnvironment() async throws {
        try await TestServer.run { t in
            let result = await (try Run(["status", "--json"], environment: ["CELLBENCH_SOCKET": t.socketPath])).finished()
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let message = try LineEncoding.makeDecoder().decode(ServerMessage.self, from: Data(result.stdout.utf8))
            guard case .status(let reply) = message else {
                Issue.record("not a status line: \(result.stdout)")
                return
            }
            #expect(reply.snapshot == FixtureProvider().snapshotValue)
        }
    }

    @Test func missingSocketIsAClearError() async throws {
        let result = await (try Run(["status", "--socket", "/nonexistent/cellbench.sock"])).finished()
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot connect to /nonexistent/cellbench.sock: No such file or directory (is cellbenchd running?)"))
    }

    @Test func tailFollowsOneChannelUntilTheServerStops() async throws {
        try await TestServer.run { t in
            let tail = try Run(["tail", "--socket", t.socketPath, "--channel", "B02", "--stream", "samples"])
            // Push until the follower shows a record: it subscribes at its own pace.
            var n: UInt64 = 0
            while !tail.stdout.contains("sample"), n < 2_000 {
                t.streams.samples.push(sample(0, n))
                t.streams.samples.push(sample(1, n + 1))
                n += 2
                try await Task.sleep(for: .milliseconds(10))
            }
            await t.server.stop()
            let result = await tail.finished()
            #expect(result.status != 0, "a server that goes away is an error for a follower")
            #expect(result.stderr.contains("server stopping"))
            let samples = result.stdout.split(separator: "\n").filter { $0.contains(" sample ") }
            #expect(!samples.isEmpty)
            #expect(samples.allSatisfy { $0.contains(" sample   B02 #") })
            let first = try #require(samples.first)
            // e.g. "2025-11-21T04:40:00.000Z sample   B02 #1 3.0001 V -0.5000 A 25.0 °C +0.000001 Ah"
            #expect(first.hasPrefix("2025-11-21T04:40:00.000Z sample   B02 #"))
            #expect(first.contains(" V -0.5000 A 25.0 °C +"))
        }
    }

    /// A client we did not write: socat sends two requests, shuts down its
    /// sending side, and gets both replies before the server closes.
    @Test func socatGetsHelloAndRepliesThenTheServerCloses() async throws {
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let found = searchPath.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("socat") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        let socat = try #require(found, "socat not installed (scripts/setup installs it)")
        try await TestServer.run { t in
            let requests = #"{"op":"status","id":1}"# + "\n" + #"{"op":"history","id":2,"stream":"samples"}"# + "\n"
            let result = await (try Run(["-t", "10", "-", "UNIX-CONNECT:\(t.socketPath)"], executable: socat,
                                        input: requests)).finished()
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let decoder = LineEncoding.makeDecoder()
            let messages = try result.stdout.split(separator: "\n").map {
                try decoder.decode(ServerMessage.self, from: Data($0.utf8))
            }
            guard messages.count == 3, case .hello = messages[0], case .status(let status) = messages[1],
                  case .history(let history) = messages[2] else {
                Issue.record("unexpected reply: \(result.stdout)")
                return
            }
            #expect(status.id == .number(1))
            #expect(history.id == .number(2) && history.records.isEmpty)
        }
    }

    @Test func tailRejectsUnknownStreamAndChannel() async throws {
        try await TestServer.run { t in
            let badStream = await (try Run(["tail", "--socket", t.socketPath, "--stream", "volts"])).finished()
            #expect(badStream.status != 0)
            #expect(badStream.stderr.contains(#"unknown stream "volts""#))
            let badChannel = await (try Run(["tail", "--socket", t.socketPath, "--channel", "Q7"])).finished()
            #expect(badChannel.status != 0)
            #expect(badChannel.stderr.contains(#"unknown channel "Q7""#))
        }
    }
}

@Suite struct StatusTextTests {
    @Test func timestampsAreUTCWithMilliseconds() {
        // Reference values from `date -u -d @<seconds>`.
        #expect(StatusText.timestamp(0) == "1970-01-01T00:00:00.000Z")
        #expect(StatusText.timestamp(1_763_700_000.25) == "2025-11-21T04:40:00.250Z")
        #expect(StatusText.timestamp(951_782_400.999) == "2000-02-29T00:00:00.999Z")
        #expect(StatusText.timestamp(951_782_399.9996) == "2000-02-29T00:00:00.000Z")
        #expect(StatusText.timestamp(-0.5) == "1969-12-31T23:59:59.500Z")
    }

    @Test func durationsAndFixedDecimals() {
        #expect(StatusText.duration(0.44) == "0.4 s")
        #expect(StatusText.duration(42) == "42 s")
        #expect(StatusText.duration(185) == "3 min 05 s")
        #expect(StatusText.duration(7620) == "2 h 07 min")
        #expect(StatusText.duration(356_400) == "4 d 03 h")
        #expect(StatusText.fixed(3.71, 4) == "3.7100")
        #expect(StatusText.fixed(-0.00004, 4) == "0.0000")
        #expect(StatusText.fixed(-1.25, 1) == "-1.3")
        #expect(StatusText.fixed(2.5, 0) == "3")
        #expect(StatusText.fixed(1e300, 2) == "1e+300")
        #expect(StatusText.fixed(.nan, 2) == "nan")
    }

    @Test func tableAlignsColumns() {
        let text = StatusText.table(["NAME", "V"], [["A01", "3.7"], ["LONGNAME", "12.25"]], rightAligned: [1])
        #expect(text == "NAME          V\nA01         3.7\nLONGNAME  12.25\n")
    }
}
