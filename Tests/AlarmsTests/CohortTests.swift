import Alarms
import BenchCore
import Foundation
import Simulator
import Testing
import TOMLConfig

/// Twelve like cells cycled for 150 simulated hours; six develop a fault after 24 h.
/// Each fault must be caught by the rule meant for it, and no healthy cell may raise anything.
@Suite struct CohortTests {
    static let rulesFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/cohort-alarms.toml").path

    /// The rules meant to catch each fault (any one of them suffices).
    static let intended: [CellFault: Set<String>] = [
        .internalShort: ["self-discharge"],
        .resistanceGrowth: ["resistance-growth"],
        .capacityFade: ["capacity-fade"],
        .thermalEvent: ["heating-rate", "overtemperature"],
        .looseContact: ["loose-contact"],
        .sensorDropout: ["sensor-dropout"],
    ]

    @Test func injectedFaultsAreCaughtAndHealthyCellsStayQuiet() throws {
        // Every fault these rules are meant for (the voltage offset is the observer's innovation rule's).
        let kinds = CellFault.allCases.filter { Self.intended[$0] != nil }
        let faults: [ChannelID: CellFault] = Dictionary(uniqueKeysWithValues: kinds.enumerated().map { (ChannelID(6 + $0), $1) })
        let onset = 24 * 3600.0
        var cohort = FaultyCohort(cellCount: 12, faults: faults, onset: onset, step: 20)
        let list = cohort.channelInfos
        let root = try ConfigDocument(contentsOf: Self.rulesFile).root
        let config = try AlarmConfiguration(alarms: root.optionalTable("alarms"), cohorts: root.tables("cohorts"), channels: list)
        let streams = BenchStreams(alarmCapacity: 1 << 14)
        let engine = makeEngine(config, list, streams)
        var batch: [Sample] = []
        while cohort.time < 150 * 3600 {
            batch.removeAll(keepingCapacity: true)
            for _ in 0..<30 { cohort.advance(into: &batch) }
            engine.process(samples: batch)
            engine.tick(now: cohort.timestamp(cohort.time))
        }
        let raised = published(streams).filter { $0.state == .active }
        let healthy = raised.filter { $0.channel.map { faults[$0] == nil } ?? true }
        #expect(healthy.isEmpty, "alarms on healthy cells: \(healthy.map { "\($0.rule): \($0.message)" })")
        #expect(raised.allSatisfy { $0.raised.monotonicSeconds >= onset }, "alarms before any fault began")
        for (channel, fault) in faults.sorted(by: { $0.key < $1.key }) {
            let rules = Set(raised.filter { $0.channel == channel }.map(\.rule))
            #expect(!rules.isDisjoint(with: Self.intended[fault] ?? []), "\(fault.rawValue) on \(channel) raised only \(rules.sorted())")
        }
    }
}
