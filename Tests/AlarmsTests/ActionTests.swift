import Alarms
import BenchCore
import Foundation
import Simulator
import Storage
import Testing

@Suite(.serialized) struct ActionTests {
    @Test func alarmStateSurvivesARestartWithoutDuplicates() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bench.sqlite"
        let toml = "[[alarms.rule]]\nname = \"overvoltage\"\nkind = \"limit\"\nquantity = \"voltage\"\nmax = 4.2\nhysteresis = 0.05\n"

        // First run: raise and acknowledge, then stop.
        let first = BenchStreams()
        let writer = try BatchWriter(path: path, streams: first, watermarks: CommitWatermarks())
        let list = [try writer.registerChannel(name: "A01", instrument: "bench", instrumentChannel: 0)]
        writer.start()
        let engine = AlarmEngine(configuration: try alarmConfiguration(toml, channels: list), channels: list, initial: [],
                                 nextID: try StoreReader(path: path).highestAlarmID() + 1, streams: first,
                                 safeStop: { _ in }, logger: quietLogger)
        engine.process(samples: [Sample(channel: list[0].id, sequence: 1, time: .now(), voltage: 4.3, current: 0)])
        let id = try #require(engine.openAlarms.first?.id)
        _ = try engine.acknowledge(alarm: id, by: "jdoe", note: "checking the charger")
        try await writer.finish()

        let reader = try StoreReader(path: path)
        let open = try reader.alarms(in: [.active, .acknowledged])
        try #require(open.count == 1)
        #expect(open[0].id == id && open[0].state == .acknowledged && open[0].acknowledgedBy == "jdoe")

        // Second run: the condition still holds, so nothing new is raised; when it ends, the same alarm clears.
        let second = BenchStreams()
        let writer2 = try BatchWriter(path: path, streams: second, watermarks: CommitWatermarks())
        writer2.start()
        let restarted = AlarmEngine(configuration: try alarmConfiguration(toml, channels: list), channels: list, initial: open,
                                    nextID: try reader.highestAlarmID() + 1, streams: second, safeStop: { _ in }, logger: quietLogger)
        #expect(restarted.openAlarms.map(\.id) == [id])
        restarted.process(samples: [Sample(channel: list[0].id, sequence: 2, time: .now(), voltage: 4.4, current: 0)])
        #expect(published(second).isEmpty)
        restarted.process(samples: [Sample(channel: list[0].id, sequence: 3, time: .now(), voltage: 4.0, current: 0)])
        #expect(published(second).map(\.id) == [id])
        try await writer2.finish()
        let all = try StoreReader(path: path).alarms()
        #expect(all.count == 1)
        #expect(all.first?.state == .cleared && all.first?.acknowledgedBy == "jdoe" && all.first?.note == "checking the charger")
    }

    @Test func criticalAlarmSafeStopsTheSimulatedInstrument() async throws {
        let list = channels(2)
        let config = try alarmConfiguration("""
            [[alarms.rule]]
            name = "undervoltage"
            kind = "limit"
            quantity = "voltage"
            min = 5.0
            severity = "critical"
            action = "safe-stop"
            channels = ["A02"]
            """, channels: list)
        var settings = SimulatedBenchSettings()
        settings.sampleRateHz = 50
        let instrument = SimulatedInstrument(name: "bench", channels: list.map { ($0.id, capacityAh: 3) }, settings: settings)
        let streams = BenchStreams()
        let engine = AlarmEngine(configuration: config, channels: list, initial: [], nextID: 1, streams: streams,
                                 safeStop: { try await instrument.safeStop(channel: $0) }, logger: quietLogger)
        let acquisition = Task { try await instrument.run(streams: streams, watermarks: CommitWatermarks()) }
        let evaluation = Task { await engine.run() }
        defer { acquisition.cancel(); evaluation.cancel() }
        // Every simulated voltage is below 5 V: channel A02 is stopped, A01 is not.
        #expect(await eventually { instrument.stoppedChannels == [ChannelID(1)] })
        #expect(await eventually { events(streams).contains { $0.kind == "safe-stop" && $0.channel == ChannelID(1) } })
        // Its output stays off: the next samples carry no current.
        var cursor = streams.samples.makeCursor(at: .next)
        var batch: [Sample] = []
        var seen: [Sample] = []
        #expect(await eventually {
            streams.samples.read(&cursor, into: &batch)
            seen += batch.filter { $0.channel == ChannelID(1) }
            return seen.count >= 5
        })
        #expect(seen.allSatisfy { $0.current == 0 })
        await #expect(throws: UnknownSimulatedChannel.self) {
            try await SimulatedInstrument(name: "x", channels: [], settings: settings).safeStop(channel: ChannelID(9))
        }
    }

    @Test func commandReceivesTheAlarmAsJSONAndFailuresBecomeEvents() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let list = channels(1)
        let config = try alarmConfiguration("""
            [alarms]
            command_timeout_s = 0.5
            [[alarms.rule]]
            name = "hot"
            kind = "limit"
            quantity = "temperature"
            max = 45
            command = ["/bin/sh", "-c", "cat > \(directory)/alarm.json"]
            [[alarms.rule]]
            name = "failing"
            kind = "limit"
            quantity = "temperature"
            max = 46
            command = ["/bin/false"]
            [[alarms.rule]]
            name = "hanging"
            kind = "limit"
            quantity = "temperature"
            max = 47
            command = ["/bin/sleep", "30"]
            [[alarms.rule]]
            name = "missing"
            kind = "limit"
            quantity = "temperature"
            max = 48
            command = ["/nonexistent/notify"]
            """, channels: list)
        let streams = BenchStreams()
        let engine = makeEngine(config, list, streams, nextID: 41)
        engine.process(samples: [sample(0, at: 1, temperature: 50)])
        let file = directory + "/alarm.json"
        #expect(await eventually { (try? Data(contentsOf: URL(fileURLWithPath: file)))?.last == UInt8(ascii: "\n") })
        let notice = try JSONDecoder().decode(AlarmNotice.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(notice.alarm.id == 41 && notice.channelName == "A01" && notice.alarm.rule == "hot" && notice.alarm.state == .active)
        #expect(notice.alarm.message.contains("temperature 50.0 °C"))
        #expect(await eventually { events(streams).filter { $0.kind == "alarm-command-failed" }.count == 3 })
        let messages = events(streams).filter { $0.kind == "alarm-command-failed" }.map(\.message)
        #expect(messages.contains { $0.contains("'failing'") && $0.contains("exited with status 1") })
        #expect(messages.contains { $0.contains("'hanging'") && $0.contains("did not finish within 0.5 s") })
        #expect(messages.contains { $0.contains("'missing'") && $0.contains("cannot start") })
    }
}
