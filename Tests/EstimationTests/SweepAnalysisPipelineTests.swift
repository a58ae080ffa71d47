import Foundation
import Testing
import BenchCore
import Electrochem
import Simulator
@testable import Estimation

@Suite struct SweepAnalysisPipelineTests {
    /// A noise-free sweep of a virtual cell whose circuit is known exactly.
    private func sweep(of cell: VirtualCell, channel: ChannelID, drift: Double = 0) -> Sweep {
        let settings = SweepSettings(startFrequency: 10_000, stopFrequency: 0.1, pointsPerDecade: 10)
        let count = settings.pointCount
        let points = (0..<count).map { k -> ImpedancePoint in
            let f = 10_000 * pow(10, -Double(k) / 10)
            let z = cell.impedance(frequency: f)
            // Drift: the cell changes during the sweep, which no causal linear system explains.
            let grow = 1 + drift * Double(k) / Double(count)
            return ImpedancePoint(frequency: f, zReal: z.real * grow, zImag: z.imaginary)
        }
        let t = Timestamp.now()
        return Sweep(channel: channel, sequence: 7, started: t, finished: t, settings: settings, points: points, status: .complete)
    }

    private func analyse(_ sweeps: [Sweep]) async throws -> (estimates: [Estimate], events: [BenchEvent], delivered: [AnalyzedSweep]) {
        let streams = BenchStreams()
        let analyzer = try SweepAnalyzer(circuit: "L0-R0-p(R1,CPE1)-p(R2,CPE2)-W1")
        let pipeline = SweepAnalysisPipeline(analyzers: [ChannelID(3): analyzer])
        let delivered = Collected()
        let task = Task { await pipeline.run(streams: streams, channelNames: [ChannelID(3): "A03"]) { delivered.append($0) } }
        // run() reads from the next record on: push after it started.
        try await Task.sleep(for: .milliseconds(50))
        for s in sweeps { streams.sweeps.push(s) }
        while delivered.count < sweeps.count { try await Task.sleep(for: .milliseconds(20)) }
        task.cancel()
        await task.value
        var ec = RingCursor(position: 0), vc = RingCursor(position: 0)
        var estimates: [Estimate] = [], events: [BenchEvent] = []
        streams.estimates.read(&ec, into: &estimates)
        streams.events.read(&vc, into: &events)
        return (estimates, events, delivered.all)
    }

    @Test func fitRecoversTheVirtualCellWithinOnePercent() async throws {
        let cell = VirtualCell()
        let p = cell.parameters
        let result = try await analyse([sweep(of: cell, channel: ChannelID(3))])
        let value = Dictionary(result.estimates.map { ($0.quantity, $0.value) }, uniquingKeysWith: { a, _ in a })
        func close(_ q: String, _ truth: Double, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let v = value[q] else { Issue.record("no estimate \(q)", sourceLocation: sourceLocation); return }
            #expect(abs(v - truth) / truth < 0.01, "\(q) = \(v), truth \(truth)", sourceLocation: sourceLocation)
        }
        close("fit.R0", p.r0Ohm - p.arcs[0].rOhm - p.arcs[1].rOhm)
        close("fit.L0", p.inductanceH)
        close("fit.W1", p.warburgSigma)
        // The two arcs (SEI at 1.6 kHz, charge transfer at 8 Hz), whichever order the fit reports.
        let arcs = [(value["fit.R1"] ?? 0, value["fit.CPE1_1"] ?? 0), (value["fit.R2"] ?? 0, value["fit.CPE2_1"] ?? 0)]
            .sorted { $0.0 < $1.0 }
        #expect(abs(arcs[0].0 - 0.004) / 0.004 < 0.01 && abs(arcs[1].0 - 0.008) / 0.008 < 0.01, "\(arcs)")
        #expect(abs(arcs[0].1 - 0.8) < 0.005 && abs(arcs[1].1 - 0.9) < 0.005, "\(arcs)")
        #expect(value["kk.mu"] != nil)
        #expect(result.events.isEmpty, "\(result.events)")
        #expect(result.delivered.first?.sweepSequence == 7)
        #expect(result.delivered.first?.analysis.fit != nil)
        #expect(result.estimates.allSatisfy { $0.channel == ChannelID(3) })
    }

    @Test func driftDuringTheSweepRaisesAKramersKronigEvent() async throws {
        let result = try await analyse([sweep(of: VirtualCell(), channel: ChannelID(3), drift: 0.4)])
        let kk = result.events.filter { $0.kind == "kk-failed" }
        #expect(kk.count == 1, "\(result.events)")
        #expect(kk.first?.message.contains("channel A03 sweep #7") == true)
    }
}

final class Collected: @unchecked Sendable {
    private var items: [AnalyzedSweep] = []
    private let lock = NSLock()
    func append(_ a: AnalyzedSweep) { lock.withLock { items.append(a) } }
    var all: [AnalyzedSweep] { lock.withLock { items } }
    var count: Int { lock.withLock { items.count } }
}
