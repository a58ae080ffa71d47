import BenchCore
import Instruments
import Testing
@testable import Schedules

/// Feeds the engine samples on a clock of its own: one call per sample, `dt` seconds apart.
struct Feeder {
    var engine: ScheduleEngine
    var seconds = 100.0
    var sequence: UInt64 = 0
    /// Every command the engine gave, in order.
    var commands: [ScheduleCommand] = []

    init(_ text: String, capacityAh: Double = 3) throws {
        engine = try ScheduleEngine(schedule: Schedule(text: text, file: "test.toml"), ratedCapacityAh: capacityAh)
        commands = engine.begin()
    }

    /// One sample `dt` s after the previous one.
    @discardableResult
    mutating func sample(v: Double = 3.7, i: Double = 0, t: Double = 25, dt: Double = 1) -> [ScheduleCommand] {
        seconds += dt
        sequence += 1
        let out = engine.consume(Sample(channel: ChannelID(1), sequence: sequence,
                                        time: Timestamp(monotonicNs: Int64(seconds * 1e9), wallNs: Int64(seconds * 1e9)),
                                        voltage: v, current: i, temperature: t))
        commands += out
        return out
    }

    var stepName: String? { engine.step?.name }
}

let safety = """
    [safety]
    voltage_high_v = 4.25
    voltage_low_v = 2.5
    current_a = 5
    temperature_c = 55

    """

@Suite struct EngineTests {
    @Test func restEndsOnTimeCountedFromSamples() throws {
        var f = try Feeder(safety + """
            [[steps]]
            name = "relax"
            type = "rest"
            end = { time_s = 10 }
            """)
        #expect(f.commands == [.protect(ProtectionLimits(voltageHigh: 4.25, voltageLow: 2.5, current: 5, temperature: 55), recordInterval: nil),
                               .source(.rest)])
        f.sample()  // the first sample only starts the clock
        for _ in 0..<9 { f.sample() }
        #expect(f.engine.position.state == .running && f.engine.position.stepSeconds == 9)
        #expect(f.sample() == [.outputOff])
        #expect(f.engine.position.state == .finished)
    }

    @Test func ccEndsOnVoltageAndCountsChargeByTrapezoids() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "cc"
            current_a = 1.8
            end = { voltage_above_v = 4.1 }
            [[steps]]
            type = "rest"
            end = { time_s = 5 }
            """)
        #expect(f.commands.last == .source(.constantCurrent(current: 1.8)))
        f.sample(v: 3.9, i: 0)
        f.sample(v: 3.95, i: 1.8, dt: 2)
        // Trapezoids: (0 + 1.8)/2 · 2 s + 1.8 · 3600 s = 1.8 As + 6480 As, in Ah.
        f.sample(v: 4.05, i: 1.8, dt: 3600)
        #expect(abs(f.engine.position.stepChargeAh - (1.8 + 6480) / 3600) < 1e-12)
        #expect(f.sample(v: 4.1, i: 1.8) == [.source(.rest)])
        #expect(f.stepName == "rest 2")
        #expect(f.engine.position.stepChargeAh == 0 && abs(f.engine.position.totalChargeAh - (1.8 + 6480 + 1.8) / 3600) < 1e-12)
    }

    @Test func dischargeEndsOnVoltageBelowAndOnCharge() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "cc"
            current_a = -3.6
            end = { voltage_below_v = 3.0, charge_ah = 1.0 }
            """)
        f.sample(v: 3.6, i: -3.6)
        f.sample(v: 3.5, i: -3.6, dt: 999)   // 3.6 A · 999 s = 0.999 Ah
        #expect(f.engine.position.state == .running)
        f.sample(v: 3.5, i: -3.6, dt: 1)     // 1.000 Ah
        #expect(f.engine.position.state == .finished)

        var g = try Feeder(safety + """
            [[steps]]
            type = "cc"
            current_a = -3.6
            end = { voltage_below_v = 3.0, charge_ah = 1.0 }
            """)
        g.sample(v: 3.2, i: -3.6)
        g.sample(v: 3.0, i: -3.6)
        #expect(g.engine.position.state == .finished)
    }

    @Test func cvEndsWhenCurrentFallsBelow() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "cv"
            voltage_v = 4.2
            current_limit_a = 2
            end = { current_below_a = 0.1 }
            """)
        #expect(f.commands.last == .source(.constantVoltage(voltage: 4.2, currentLimit: 2)))
        f.sample(v: 4.2, i: 2)
        f.sample(v: 4.2, i: 0.1)  // not below
        #expect(f.engine.position.state == .running)
        f.sample(v: 4.2, i: 0.099)
        #expect(f.engine.position.state == .finished)
    }

    @Test func cccvCutOffCountsOnlyOnceTheVoltageIsReachedAndMarksTheCellFull() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "cccv"
            current_a = 1.5
            voltage_v = 4.2
            cutoff_a = 0.15
            """)
        #expect(f.commands.last == .source(.constantCurrentConstantVoltage(current: 1.5, voltage: 4.2, currentLimit: 1.5)))
        // The current starts at zero: below the cut-off, but the voltage is not reached yet.
        f.sample(v: 3.7, i: 0)
        f.sample(v: 3.8, i: 0.05)
        #expect(f.engine.position.state == .running && f.engine.position.soc == nil)
        f.sample(v: 4.195, i: 1.0)
        #expect(f.engine.position.reachedVoltage)
        f.sample(v: 4.2, i: 0.2)
        #expect(f.engine.position.state == .running)
        f.sample(v: 4.2, i: 0.14)
        #expect(f.engine.position.state == .finished && f.engine.position.soc == 1)
    }

    @Test func dvdtEndsWhenTheSlopeOverAWindowIsSmall() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "rest"
            end = { dvdt_below_v_per_s = 1e-4, dvdt_window_s = 10 }
            """)
        f.sample(v: 3.60)       // clock starts
        f.sample(v: 3.60)       // slope reference at step time 1 s
        for k in 1...10 { f.sample(v: 3.60 + 0.0002 * Double(k)) }  // 0.2 mV/s over 10 s: too steep
        #expect(f.engine.position.state == .running)
        #expect(f.engine.position.slopeFrom == .init(seconds: 11, voltage: 3.602))
        for k in 1...9 { f.sample(v: 3.602 + 0.00005 * Double(k)) }   // 0.05 mV/s, window not yet full
        #expect(f.engine.position.state == .running)
        f.sample(v: 3.6025)
        #expect(f.engine.position.state == .finished)
    }

    @Test func nestedLoopsCountIterationsAndRunEveryNthStep() throws {
        var f = try Feeder(safety + """
            [[steps]]
            name = "cycles"
            type = "loop"
            repeat = 7
              [[steps.steps]]
              name = "charge"
              type = "cc"
              current_a = 1
              end = { time_s = 1 }
              [[steps.steps]]
              name = "pulses"
              type = "loop"
              repeat = 2
                [[steps.steps.steps]]
                name = "pulse"
                type = "cc"
                current_a = -1
                end = { time_s = 1 }
              [[steps.steps]]
              name = "eis"
              type = "eis"
              every = 3
            """)
        var visited: [String] = []
        f.sample()
        while f.engine.position.state == .running {
            let loops = f.engine.loops.map { "\($0.iteration)/\($0.count)" }.joined(separator: ",")
            let name = (f.stepName ?? "-") + "@" + loops
            if visited.last != name { visited.append(name) }
            if f.engine.position.phase == .sweeping { f.commands += f.engine.sweepFinished() } else { f.sample() }
        }
        var expected: [String] = []
        for cycle in 1...7 {
            expected.append("charge@\(cycle)/7")
            expected += ["pulse@\(cycle)/7,1/2", "pulse@\(cycle)/7,2/2"]
            if [1, 4, 7].contains(cycle) { expected.append("eis@\(cycle)/7") }
        }
        #expect(visited == expected)
        #expect(f.commands.filter { if case .sweep = $0 { true } else { false } }.count == 3)
    }

    @Test func impedanceStepMovesToTheStateOfChargeRestsThenSweeps() throws {
        var f = try Feeder("capacity_ah = 2\n" + safety + """
            [[steps]]
            type = "cc"
            current_a = 1
            end = { time_s = 10 }
            soc_after = 1.0
            [[steps]]
            name = "eis at 50 %"
            type = "eis"
            at_soc = 0.5
            soc_current_a = 2
            rest_s = 30
            [steps.sweep]
            start_hz = 1000
            stop_hz = 1
            points_per_decade = 5
            """)
        f.sample(i: 1)
        for _ in 0..<10 { f.sample(i: 1) }
        #expect(f.stepName == "eis at 50 %" && f.engine.position.soc == 1)
        #expect(f.commands.last == .source(.constantCurrent(current: -2)))
        // 2 A out of a 2 Ah cell: 1/3600 of the state of charge per second, after one
        // trapezoid from +1 A to −2 A over 2 s (−1/7200).
        f.sample(i: -2, dt: 2)
        f.sample(i: -2, dt: 1799.4)
        #expect(f.engine.position.phase == .adjustingSOC)
        #expect(abs((f.engine.position.soc ?? 0) - (1 - 1.0 / 7200 - 1799.4 / 3600)) < 1e-12)
        #expect(f.sample(i: -2, dt: 0.2) == [.source(.rest)])
        #expect(f.engine.position.phase == .relaxing && abs((f.engine.position.soc ?? 0) - (0.5 - 0.1 / 3600)) < 1e-12)
        f.sample(dt: 29)
        let sweep = SweepSettings(startFrequency: 1000, stopFrequency: 1, pointsPerDecade: 5)
        #expect(f.sample(dt: 1) == [.source(.rest), .sweep(sweep)])
        f.sample(dt: 600)
        #expect(f.engine.position.state == .running, "the step waits for the sweep, not for time")
        #expect(f.engine.sweepFinished() == [.outputOff])
        #expect(f.engine.position.state == .finished)
    }

    @Test func impedanceStepWithoutAKnownStateOfChargeSweepsWhereTheCellIs() throws {
        let f = try Feeder(safety + """
            [[steps]]
            type = "eis"
            at_soc = 0.5
            """)
        #expect(f.engine.position.phase == .sweeping)
        #expect(f.commands.last == .sweep(SweepSettings()))
    }

    @Test func safetyBreachStopsTheOutput() throws {
        for (v, i, t, word) in [(4.26, 1.0, 25.0, "voltage"), (2.49, -1.0, 25.0, "voltage"), (3.7, 5.06, 25.0, "current"),
                                (3.7, 1.0, 55.5, "temperature")] {
            var f = try Feeder(safety + """
                [[steps]]
                type = "cc"
                current_a = 5
                end = { time_s = 100 }
                """)
            f.sample(v: 3.7, i: 5.04)  // within the 1 % tolerance on current
            #expect(f.engine.position.state == .running)
            #expect(f.sample(v: v, i: i, t: t) == [.outputOff])
            #expect(f.engine.position.state == .tripped)
            #expect(f.engine.position.message?.contains(word) == true, "\(f.engine.position.message ?? "")")
            #expect(f.sample().isEmpty, "a tripped schedule commands nothing more")
        }
    }

    @Test func pauseStopsTheClockAndResumeReissuesTheStep() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "cc"
            current_a = 2
            end = { time_s = 10 }
            """)
        f.sample(i: 2)
        f.sample(i: 2, dt: 4)
        #expect(f.engine.pause() == [.source(.rest)])
        f.sample(dt: 100)
        #expect(f.engine.position.stepSeconds == 4 && f.engine.position.state == .paused)
        #expect(f.engine.resume() == [.source(.constantCurrent(current: 2))])
        f.sample(i: 2, dt: 50)   // the first sample after a resume only restarts the clock
        f.sample(i: 2, dt: 5)
        #expect(f.engine.position.stepSeconds == 9)
        f.sample(i: 2, dt: 1)
        #expect(f.engine.position.state == .finished)
        #expect(f.engine.stop().isEmpty, "a finished schedule has nothing to stop")
    }

    @Test func stopSwitchesTheOutputOff() throws {
        var f = try Feeder(safety + """
            [[steps]]
            type = "rest"
            end = { time_s = 10 }
            """)
        #expect(f.engine.stop() == [.outputOff])
        #expect(f.engine.position.state == .stopped)
    }

    @Test func resumingFromASavedPositionContinuesTheSameStepAndCounters() throws {
        let text = safety + """
            [[steps]]
            type = "loop"
            repeat = 3
              [[steps.steps]]
              type = "cc"
              current_a = 1
              end = { time_s = 10 }
              [[steps.steps]]
              type = "rest"
              end = { time_s = 10 }
            """
        var f = try Feeder(text)
        f.sample()
        for _ in 0..<25 { f.sample(i: 1) }
        let saved = f.engine.position
        #expect(saved.path == [0, 0] && saved.iterations == [2] && saved.stepSeconds == 5)
        // Through JSON, as the store keeps it.
        let restored = try JSONRoundTrip.decode(JSONRoundTrip.encode(saved))
        var resumed = try ScheduleEngine(schedule: Schedule(text: text, file: "test.toml"), ratedCapacityAh: 0, resuming: restored)
        #expect(resumed.begin().last == .source(.constantCurrent(current: 1)))
        #expect(resumed.position == saved)
        let t0 = 5000.0
        for k in 0...5 {
            _ = resumed.consume(Sample(channel: ChannelID(1), sequence: UInt64(k), time: Timestamp(monotonicNs: Int64((t0 + Double(k)) * 1e9), wallNs: 0),
                                       voltage: 3.7, current: 1))
        }
        #expect(resumed.position.path == [0, 1] && resumed.position.iterations == [2])
    }

    @Test func savedPositionThatDoesNotFitIsRefused() throws {
        let schedule = try Schedule(text: safety + "[[steps]]\ntype = \"rest\"\nend = { time_s = 1 }\n", file: "test.toml")
        var position = try ScheduleEngine(schedule: schedule, ratedCapacityAh: 0).position
        position.path = [3]
        #expect(throws: ScheduleError.self) { try ScheduleEngine(schedule: schedule, ratedCapacityAh: 0, resuming: position) }
    }
}
