import Alarms
import ArgumentParser
import BenchCore
import Foundation
import Logging
import Simulator
import TOMLConfig

/// Alarm engine on a simulated cohort with injected faults, faster than real time:
/// detections, detection delay per fault, false alarms, evaluation cost per sample.
struct AlarmsBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alarms",
                                                    abstract: "Fault detection on a simulated cohort and alarm evaluation cost per sample.")

    @Option(help: "Cells in the cohort.") var cells = 32
    @Option(help: "Faults, one per cell from the last cell down.")
    var faults = [CellFault.internalShort, .resistanceGrowth, .capacityFade, .thermalEvent].map(\.rawValue)
    @Option(help: "Simulated hours.") var hours = 1000.0
    @Option(help: "Hour at which the faults begin.") var onset = 100.0
    @Option(help: "Seconds between samples.") var step = 10.0
    @Option(help: "Alarm rules (TOML).") var rules = "examples/cohort-alarms.toml"

    /// The rules of `examples/cohort-alarms.toml` meant to catch each fault.
    static let intended: [CellFault: Set<String>] = [
        .internalShort: ["self-discharge"], .resistanceGrowth: ["resistance-growth"], .capacityFade: ["capacity-fade"],
        .thermalEvent: ["heating-rate", "overtemperature"], .looseContact: ["loose-contact"], .sensorDropout: ["sensor-dropout"],
    ]

    func run() throws {
        var injected: [ChannelID: CellFault] = [:]
        for (i, name) in faults.enumerated() {
            guard let fault = CellFault(rawValue: name) else {
                throw ValidationError("unknown fault '\(name)'; expected one of \(CellFault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            injected[ChannelID(cells - 1 - i)] = fault
        }
        var cohort = FaultyCohort(cellCount: cells, faults: injected, onset: onset * 3600, step: step)
        let list = cohort.channelInfos
        let root = try ConfigDocument(contentsOf: rules).root
        let config = try AlarmConfiguration(alarms: root.optionalTable("alarms"), cohorts: root.tables("cohorts"), channels: list)
        let streams = BenchStreams(alarmCapacity: 1 << 16)
        let engine = AlarmEngine(configuration: config, channels: list, initial: [], nextID: 1, streams: streams, safeStop: { _ in },
                                 logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        var batch: [Sample] = []
        batch.reserveCapacity(cells * 60)
        var evaluationNs: Int64 = 0
        var samples = 0
        let started = BenchClock.monotonicNs()
        while cohort.time < hours * 3600 {
            batch.removeAll(keepingCapacity: true)
            for _ in 0..<60 { cohort.advance(into: &batch) }
            let t0 = Self.threadCPUNs()
            engine.process(samples: batch)
            engine.tick(now: cohort.timestamp(cohort.time))
            evaluationNs += Self.threadCPUNs() - t0
            samples += batch.count
        }
        let wall = Double(BenchClock.monotonicNs() - started) / 1e9

        var cursor = streams.alarms.makeCursor(at: .oldest)
        var changes: [Alarm] = []
        streams.alarms.read(&cursor, into: &changes)
        let raised = changes.filter { $0.state == .active }
        print("alarms: \(cells) cells, \(injected.count) faulty from hour \(onset), \(hours) simulated hours at \(step) s per sample, "
              + "\(samples) samples in \(fixed(wall, 1)) s wall (\(Int(hours * 3600 / wall))× real time)")
        var detected = 0
        for (channel, fault) in injected.sorted(by: { $0.key < $1.key }) {
            let name = list[Int(channel.rawValue)].name
            let hit = raised.filter { $0.channel == channel && Self.intended[fault]?.contains($0.rule) == true }.min { $0.raised.monotonicNs < $1.raised.monotonicNs }
            if let hit {
                detected += 1
                print("alarms: \(fault.rawValue) on \(name): detected by \(hit.rule) after \(fixed((hit.raised.monotonicSeconds - onset * 3600) / 3600, 2)) h")
            } else {
                print("alarms: \(fault.rawValue) on \(name): NOT detected")
            }
            let others = Set(raised.filter { $0.channel == channel && Self.intended[fault]?.contains($0.rule) != true }.map(\.rule))
            if !others.isEmpty { print("alarms:   also raised on \(name): \(others.sorted().joined(separator: ", "))") }
        }
        let falseAlarms = raised.filter { $0.channel.map { injected[$0] == nil } ?? true }
        print("alarms: detected \(detected)/\(injected.count); false alarms on healthy cells: \(falseAlarms.count)")
        for alarm in falseAlarms.prefix(10) { print("alarms:   false: \(alarm.rule): \(alarm.message)") }
        print("alarms: evaluation \(fixed(Double(evaluationNs) / Double(max(samples, 1)), 1)) ns of CPU time per sample "
              + "(\(config.rules.count) rules, including periodic and cohort checks)")
    }

    /// CPU time of the calling thread, so other load on the machine does not inflate the figure.
    static func threadCPUNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    private func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
