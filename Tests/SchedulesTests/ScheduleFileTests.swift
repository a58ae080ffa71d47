import BenchCore
import Foundation
import Instruments
import Testing
import TOMLConfig
@testable import Schedules

@Suite struct ScheduleFileTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/schedules").path

    @Test func everyExampleScheduleParses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.examples).filter { $0.hasSuffix(".toml") }
        #expect(files.count >= 2)
        for file in files {
            let schedule = try Schedule.load(path: Self.examples + "/" + file)
            #expect(!schedule.steps.isEmpty, "\(file)")
        }
    }

    @Test func cyclingExampleSweepsEveryFifthCycleAtHalfCharge() throws {
        let schedule = try Schedule.load(path: Self.examples + "/cycling-with-eis.toml")
        guard case .loop(let count, let steps) = schedule.steps[0].action, case .impedance(let eis) = steps[1].action else {
            Issue.record("unexpected shape: \(schedule.steps)")
            return
        }
        #expect(count == 200 && steps[1].every == 5 && eis.atSOC == 0.5 && eis.restSeconds == 3600)
        #expect(eis.sweep == SweepSettings(amplitude: 0.05, startFrequency: 10_000, stopFrequency: 0.05, pointsPerDecade: 8))
        #expect(schedule.capacityAh == 3 && schedule.safety == ProtectionLimits(voltageHigh: 4.25, voltageLow: 2.7, current: 3.5, temperature: 55))
    }

    /// Each mistake is reported with the file, the line and the key at fault
    /// (`head` is five lines, so the first step's header is line 6).
    @Test func errorsNameFileLineAndKey() {
        let head = """
            [safety]
            voltage_high_v = 4.2
            voltage_low_v = 2.5
            current_a = 2
            temperature_c = 50

            """
        let cases: [(String, Int?, String, String)] = [
            (head + "[[steps]]\ntype = \"cc\"\ncurrent_a = 3\nend = { time_s = 1 }\n", 8, "steps[0].current_a", "exceeds the safety"),
            (head + "[[steps]]\ntype = \"cv\"\nvoltage_v = 4.3\ncurrent_limit_a = 1\nend = { time_s = 1 }\n", 8, "steps[0].voltage_v", "outside the safety"),
            (head + "[[steps]]\ntype = \"rest\"\n", 6, "steps[0]", "needs an [end]"),
            (head + "[[steps]]\ntype = \"jog\"\n", 7, "steps[0].type", "not one of"),
            (head + "[[steps]]\ntype = \"rest\"\nend = { tme_s = 3 }\n", 8, "steps[0].end.tme_s", "unknown key"),
            (head + "[[steps]]\ntype = \"eis\"\nevery = 2\n", 8, "steps[0].every", "enclosing loop"),
            (head + "[[steps]]\ntype = \"loop\"\nrepeat = 2\n  [[steps.steps]]\n  type = \"cccv\"\n  current_a = 1\n  voltage_v = 4.1\n  cutoff_a = 1.5\n",
             13, "steps[0].steps[0].cutoff_a", "below |current_a|"),
            (head, nil, "", "no [[steps]]"),
            ("[[steps]]\ntype = \"rest\"\nend = { time_s = 1 }\n", nil, "", "missing required table [safety]"),
        ]
        for (text, line, key, words) in cases {
            do {
                _ = try Schedule(text: text, file: "bad.toml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.file == "bad.toml")
                #expect(error.line == line, "\(error)")
                #expect(error.key == key, "\(error)")
                #expect(error.message.contains(words), "\(error)")
            }
        }
    }

    @Test func stepsWithoutNamesAreNamedByTypeAndPlace() throws {
        let schedule = try Schedule(text: safety + """
            [[steps]]
            type = "loop"
            repeat = 2
              [[steps.steps]]
              type = "rest"
              end = { time_s = 1 }
            """, file: "x.toml")
        #expect(schedule.name == "x.toml")
        #expect(schedule.step(at: [0])?.name == "loop 1" && schedule.step(at: [0, 0])?.name == "rest 1.1")
    }
}
