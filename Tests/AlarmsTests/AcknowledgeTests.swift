import Alarms
import BenchCore
import Dispatch
import Foundation
import StatusServer
import Storage
import Testing

/// The provider the daemon gives the status server, reduced to what `ack` and
/// `alarms` need: a real engine and a real store.
private struct EngineProvider: StatusProvider {
    let engine: AlarmEngine
    let storePath: String
    let list: [ChannelInfo]

    func snapshot() async -> StatusSnapshot {
        StatusSnapshot(uptime: 0, channels: [], instruments: [], counters: [:], storeLag: StoreLag(pendingRecords: 0, seconds: 0))
    }
    func history(_ query: HistoryQuery) async throws -> [HistoryRecord] {
        let path = storePath
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try StoreReader(path: path).alarms().map(HistoryRecord.alarm) })
            }
        }
    }
    func channels() -> [ChannelInfo] { list }
    func acknowledge(alarm id: Int64, by user: String, note: String) async throws -> Alarm {
        try engine.acknowledge(alarm: id, by: user, note: note)
    }
}

@Suite(.serialized, .timeLimit(.minutes(1))) struct AcknowledgeTests {
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cellbench")
    }

    /// Runs `cellbench` to completion off the concurrency pool.
    static func cellbench(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = executable
                    process.arguments = arguments
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    process.standardError = pipe
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
                })
            }
        }
    }

    @Test func ackOverTheSocketAndTheCommandLine() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let streams = BenchStreams()
        let writer = try BatchWriter(path: directory + "/bench.sqlite", streams: streams, watermarks: CommitWatermarks())
        let list = [try writer.registerChannel(name: "A01", instrument: "bench", instrumentChannel: 0),
                    try writer.registerChannel(name: "A02", instrument: "bench", instrumentChannel: 1)]
        writer.start()
        let config = try alarmConfiguration("[[alarms.rule]]\nname = \"hot\"\nkind = \"limit\"\nquantity = \"temperature\"\nmax = 45\n",
                                            channels: list)
        let engine = makeEngine(config, list, streams)
        // Store-assigned channel ids.
        var hot = [sample(0, at: 1, temperature: 50), sample(1, at: 1, temperature: 60)]
        for i in hot.indices { hot[i].channel = list[i].id }
        engine.process(samples: hot)
        let socket = directory + "/status.sock"
        let server = StatusServer(configuration: StatusServerConfiguration(socketPath: socket), streams: streams,
                                  provider: EngineProvider(engine: engine, storePath: directory + "/bench.sqlite", list: list),
                                  registry: .init())
        try await server.start()

        let reply = try await StatusClient.withConnection(socketPath: socket) { connection in
            try await connection.send(StatusRequest(op: "ack", id: .string("a"), alarm: 1, by: "jdoe", note: "lid open"))
            return try await connection.reply(to: .string("a"))
        }
        guard case .acknowledged(let ack) = reply.message else { Issue.record("unexpected reply \(reply.text)"); return }
        #expect(ack.alarm.alarmId == 1 && ack.alarm.state == .acknowledged && ack.alarm.acknowledgedBy == "jdoe")
        #expect(ack.alarm.note == "lid open" && ack.alarm.channel == "A01")

        // Errors come back as error lines naming the problem.
        await #expect(throws: StatusClientError.self) {
            try await StatusClient.withConnection(socketPath: socket) { connection in
                try await connection.send(StatusRequest(op: "ack", id: .number(2), alarm: 1, by: "jdoe", note: "again"))
                _ = try await connection.reply(to: .number(2))
            }
        }
        let missing = try await Self.cellbench(["ack", "77", "--note", "x", "--socket", socket])
        #expect(missing.status != 0 && missing.output.contains("alarm 77 is not open"))

        let cli = try await Self.cellbench(["ack", "2", "--note", "probe replaced", "--by", "tech", "--socket", socket])
        #expect(cli.status == 0 && cli.output.contains("alarm 2 acknowledged by tech"))
        #expect(engine.openAlarms.map(\.state) == [.acknowledged, .acknowledged])

        // The alarm list reads the store, once the writer has committed the acknowledgements.
        var listed = ""
        for _ in 0..<50 {
            listed = try await Self.cellbench(["alarms", "--active", "--socket", socket]).output
            if listed.contains("tech: probe replaced") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(listed.contains("jdoe: lid open") && listed.contains("tech: probe replaced"))
        #expect(listed.contains("acknowledged") && listed.contains("A02"))
        await server.stop()
        try await writer.finish()
    }
}
