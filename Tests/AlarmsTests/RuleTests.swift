import Alarms
import BenchCore
import Testing
import TOMLConfig

@Suite struct RuleTests {
    @Test func limitRaisesAfterDebounceAndClearsBelowHysteresis() throws {
        let list = channels(2)
        let config = try alarmConfiguration("""
            [alarms]
            [[alarms.rule]]
            name = "overvoltage"
            kind = "limit"
            quantity = "voltage"
            max = 4.2
            hysteresis = 0.05
            debounce_s = 10
            severity = "critical"
            channels = ["A01"]
            """, channels: list)
        let streams = BenchStreams()
        let engine = makeEngine(config, list, streams, nextID: 7)
        // A spike shorter than the debounce raises nothing; neither does the unwatched channel.
        engine.process(samples: [sample(0, at: 0, voltage: 4.3), sample(0, at: 5, voltage: 4.1), sample(1, at: 5, voltage: 5)])
        #expect(published(streams).isEmpty)
        engine.process(samples: (0...10).map { sample(0, at: 10 + Double($0), voltage: 4.25) })
        var alarms = published(streams)
        try #require(alarms.count == 1)
        #expect(alarms[0].id == 7 && alarms[0].state == .active && alarms[0].rule == "overvoltage" && alarms[0].severity == .critical)
        #expect(alarms[0].raised.monotonicSeconds == 20)
        #expect(alarms[0].channel == ChannelID(0))
        // Inside the limit but within the hysteresis band: stays raised.
        engine.process(samples: (0...30).map { sample(0, at: 30 + Double($0), voltage: 4.18) })
        #expect(published(streams).count == 1)
        // Below max − hysteresis for the debounce time: clears.
        engine.process(samples: (0...10).map { sample(0, at: 70 + Double($0), voltage: 4.1) })
        alarms = published(streams)
        try #require(alarms.count == 2)
        #expect(alarms[1].id == 7 && alarms[1].state == .cleared && alarms[1].cleared?.monotonicSeconds == 80)
        #expect(engine.openAlarms.isEmpty)
        // A new excursion is a new alarm with the next id.
        engine.process(samples: (0...10).map { sample(0, at: 100 + Double($0), voltage: 4.3) })
        #expect(published(streams).last?.id == 8)
    }

    @Test func acknowledgementLifecycle() throws {
        let list = channels(1)
        let config = try alarmConfiguration("""
            [[alarms.rule]]
            kind = "limit"
            quantity = "temperature"
            max = 45
            """, channels: list)
        let streams = BenchStreams()
        let engine = makeEngine(config, list, streams)
        engine.process(samples: [sample(0, at: 1, temperature: 50)])
        let id = try #require(engine.openAlarms.first?.id)
        let acked = try engine.acknowledge(alarm: id, by: "jdoe", note: "fan restarted")
        #expect(acked.state == .acknowledged && acked.acknowledgedBy == "jdoe" && acked.note == "fan restarted")
        #expect(acked.acknowledgedAt != nil)
        #expect(throws: AcknowledgeError.self) { try engine.acknowledge(alarm: id, by: "jdoe", note: "again") }
        #expect(throws: AcknowledgeError.self) { try engine.acknowledge(alarm: 999, by: "jdoe", note: "") }
        // Still hot: no second alarm. Cooled: the acknowledged alarm clears, keeping who and why.
        engine.process(samples: [sample(0, at: 2, temperature: 51), sample(0, at: 3, temperature: 30)])
        let changes = published(streams)
        #expect(changes.map(\.state) == [.active, .acknowledged, .cleared])
        #expect(changes.last?.acknowledgedBy == "jdoe" && changes.last?.note == "fan restarted")
        #expect(throws: AcknowledgeError.self) { try engine.acknowledge(alarm: id, by: "jdoe", note: "late") }
    }

    @Test func temperatureRateSensorDropoutAndNoise() throws {
        let list = channels(1)
        let config = try alarmConfiguration("""
            [[alarms.rule]]
            name = "heating"
            kind = "limit"
            quantity = "temperature_rate"
            max = 0.01
            [[alarms.rule]]
            name = "sensor"
            kind = "sensor-dropout"
            quantities = ["temperature"]
            debounce_s = 30
            [[alarms.rule]]
            name = "contact"
            kind = "limit"
            quantity = "voltage_noise"
            max = 0.003
            """, channels: list)
        let streams = BenchStreams()
        let engine = makeEngine(config, list, streams)
        // 0.3 K/min (0.005 K/s) is under 0.01 K/s; then 1.2 K/min (0.02 K/s) is over.
        engine.process(samples: (0...120).map { sample(0, at: Double($0), temperature: 25 + 0.005 * Double($0)) })
        #expect(published(streams).isEmpty)
        engine.process(samples: (121...240).map { sample(0, at: Double($0), temperature: 25.6 + 0.02 * Double($0 - 120)) })
        #expect(published(streams).map(\.rule) == ["heating"])
        // Temperature reads NaN: after 30 s the dropout rule fires.
        engine.process(samples: (241...300).map { sample(0, at: Double($0), temperature: .nan) })
        #expect(published(streams).map(\.rule) == ["heating", "sensor"])
        // Alternating ±10 mV on a steady voltage: noise estimate well above 3 mV.
        engine.process(samples: (301...400).map { sample(0, at: Double($0), voltage: 3.7 + ($0 % 2 == 0 ? 0.01 : -0.01), temperature: .nan) })
        #expect(published(streams).map(\.rule).contains("contact"))
    }

    @Test func notificationsAreRateLimitedButEveryChangeIsPublished() throws {
        let list = channels(1)
        let config = try alarmConfiguration("""
            [alarms]
            notify_limit = 2
            notify_window_s = 3600
            [[alarms.rule]]
            kind = "limit"
            quantity = "voltage"
            max = 4.2
            """, channels: list)
        let streams = BenchStreams()
        let engine = makeEngine(config, list, streams)
        for k in 0..<5 {
            engine.process(samples: [sample(0, at: Double(2 * k), voltage: 4.3), sample(0, at: Double(2 * k + 1), voltage: 4.0)])
        }
        // 5 raises and 5 clears published; 2 notifications let through, 8 held back.
        #expect(published(streams).count == 10)
        #expect(engine.suppressedNotifications == 8)
    }

    @Test func eventAndEstimateRules() throws {
        let list = channels(1)
        let config = try alarmConfiguration("""
            [[alarms.rule]]
            kind = "fit-failure"
            clear_after_s = 100
            [[alarms.rule]]
            kind = "resistance-jump"
            max_relative = 0.2
            [[alarms.rule]]
            kind = "innovation"
            k = 3
            debounce_s = 20
            """, channels: list)
        let streams = BenchStreams()
        let engine = makeEngine(config, list, streams)
        let t = { (s: Double) in Timestamp(monotonicNs: Int64(s * 1e9), wallNs: Int64(s * 1e9)) }
        let c = ChannelID(0)
        engine.process(samples: [], events: [BenchEvent(channel: c, time: t(10), severity: .warning, kind: "kk-failed", message: "residuals 4 %")])
        engine.process(samples: [], estimates: [Estimate(channel: c, time: t(20), quantity: "fit.R0", value: 0.030, source: "lm"),
                                                Estimate(channel: c, time: t(30), quantity: "fit.R0", value: 0.033, source: "lm"),
                                                Estimate(channel: c, time: t(40), quantity: "fit.R0", value: 0.045, source: "lm")])
        #expect(published(streams).map(\.rule) == ["fit-failure", "resistance-jump"])
        // Innovation beyond 3σ for 20 s.
        engine.process(samples: [], estimates: (0...20).map { Estimate(channel: c, time: t(50 + Double($0)), quantity: "innovation", value: 0.05, sigma: 0.01, source: "foekf") })
        #expect(published(streams).map(\.rule) == ["fit-failure", "resistance-jump", "innovation"])
        // No new failure for 100 s: the fit-failure alarm clears on the periodic check.
        engine.tick(now: t(200))
        let last = published(streams).last
        #expect(last?.rule == "fit-failure" && last?.state == .cleared)
    }

    @Test func linksStoreLagAndSilentChannels() throws {
        let list = channels(2)
        let config = try alarmConfiguration("""
            [[alarms.rule]]
            kind = "link-lost"
            debounce_s = 5
            [[alarms.rule]]
            kind = "store-lag"
            max_s = 30
            [[alarms.rule]]
            kind = "data-gap"
            timeout_s = 60
            channels = ["A02"]
            """, channels: list)
        let streams = BenchStreams()
        let link = LinkStatus(state: .down, lastError: "no reply")
        let engine = AlarmEngine(configuration: config, channels: list, initial: [], nextID: 1, streams: streams,
                                 safeStop: { _ in }, links: { [(name: "cycler1", status: link)] },
                                 storeLagSeconds: { 45 }, logger: quietLogger)
        let t = { (s: Double) in Timestamp(monotonicNs: Int64(s * 1e9), wallNs: Int64(s * 1e9)) }
        engine.tick(now: t(0))
        engine.process(samples: [sample(0, at: 30), sample(1, at: 30)])
        engine.tick(now: t(10))
        engine.process(samples: [sample(0, at: 100)])
        engine.tick(now: t(100))
        let alarms = published(streams)
        #expect(Set(alarms.map(\.rule)) == ["link-lost", "store-lag", "data-gap"])
        #expect(alarms.first { $0.rule == "link-lost" }?.message.hasPrefix("instrument cycler1:") == true)
        #expect(alarms.first { $0.rule == "data-gap" }?.channel == ChannelID(1))

        // After a restart with the same conditions, the reloaded bench-wide alarms are not raised again.
        let restartedStreams = BenchStreams()
        let restarted = AlarmEngine(configuration: config, channels: list, initial: engine.openAlarms, nextID: 100,
                                    streams: restartedStreams, safeStop: { _ in }, links: { [(name: "cycler1", status: link)] },
                                    storeLagSeconds: { 45 }, logger: quietLogger)
        restarted.tick(now: t(200))
        restarted.tick(now: t(210))
        #expect(published(restartedStreams).filter { $0.rule != "data-gap" }.isEmpty)
        #expect(Set(restarted.openAlarms.map(\.rule)).isSuperset(of: ["link-lost", "store-lag"]))
    }

    @Test func configurationErrorsNameLineAndKey() {
        let list = channels(3)
        func failure(_ toml: String) -> ConfigError? {
            do { _ = try alarmConfiguration(toml, channels: list); return nil } catch { return error }
        }
        let unknownKind = failure("[alarms]\n[[alarms.rule]]\nkind = \"lmit\"\n")
        #expect(unknownKind?.line == 3 && unknownKind?.key == "alarms.rule[0].kind")
        let unknownChannel = failure("[[alarms.rule]]\nkind = \"limit\"\nquantity = \"voltage\"\nmax = 4.2\nchannels = [\"Z9\"]\n")
        #expect(unknownChannel?.line == 5 && unknownChannel?.key == "alarms.rule[0].channels")
        let notCritical = failure("[[alarms.rule]]\nkind = \"limit\"\nquantity = \"voltage\"\nmax = 4.2\naction = \"safe-stop\"\n")
        #expect(notCritical?.key == "alarms.rule[0].action" && notCritical?.message.contains("critical") == true)
        let misspelt = failure("[[alarms.rule]]\nkind = \"limit\"\nquantity = \"voltage\"\nmax = 4.2\nhysterisis = 0.1\n")
        #expect(misspelt?.line == 5 && misspelt?.key == "alarms.rule[0].hysterisis")
        let noBounds = failure("[[alarms.rule]]\nkind = \"limit\"\nquantity = \"voltage\"\n")
        #expect(noBounds?.message.contains("min") == true)
        let smallCohort = failure("[[cohorts]]\nname = \"lot7\"\nchannels = [\"A01\", \"A02\"]\n")
        #expect(smallCohort?.line == 3)
        let missingCohort = failure("[[alarms.rule]]\nkind = \"cohort\"\nmetric = \"resistance\"\ncohort = \"lot9\"\n")
        #expect(missingCohort?.key == "alarms.rule[0].cohort")
    }
}
