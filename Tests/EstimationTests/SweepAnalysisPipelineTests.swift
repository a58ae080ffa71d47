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

    private func analyse(_ sweeps: [Sweep], circuit: String = "L0-R0-p(R1,CPE1)-p(R2,CPE2)-W1") async throws
        -> (estimates: [Estimate], events: [BenchEvent], delivered: [AnalyzedSweep]) {
        let streams = BenchStreams()
        let analyzer = try SweepAnalyzer(circuit: circuit)
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

    /// `li-ion` channels: every sweep goes through the shipped network, then the polish.
    @Test func liIonSweepsGoThroughTheNetworkThenThePolish() async throws {
        let result = try await analyse([sweep(of: VirtualCell(), channel: ChannelID(3))], circuit: "li-ion")
        let analysis = try #require(result.delivered.first?.analysis)
        let inverse = try #require(analysis.inverse)
        #expect(inverse.method == .inverseThenLM)
        // Both parameter sets are kept: the network's and the polished ones (stored as JSON).
        #expect(inverse.network.parameters.count == 17 && analysis.fit?.parameters.count == 17)
        let json = String(decoding: try JSONEncoder().encode(analysis), as: UTF8.self)
        #expect(json.contains("\"network\"") && json.contains("\"parameterShift\""))
        // The cell's circuit (an inductor, two ZARCs and a Warburg tail) lies inside the family, and
        // the sweep has no noise: the polish fits it to well below the proper-fit limit (≥ 0.1).
        #expect(inverse.residual < 0.02, "ρ \(inverse.residual)")
        #expect(inverse.residual <= inverse.network.reconstructionError)
        let value = Dictionary(result.estimates.map { ($0.quantity, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(value["inverse.residual"] == inverse.residual)
        #expect(value["inverse.network_residual"] == inverse.network.reconstructionError)
        #expect(value["inverse.shift"] == inverse.parameterShift)
        #expect(value["fit.R0"] != nil)
        #expect(!result.events.contains { $0.kind == "data-quality" }, "\(result.events)")
    }

    /// A sweep with 30 % scatter (a loose contact) cannot be fitted to its proper-fit limit.
    @Test func aResidualBeyondTheNormalRangeRaisesADataQualityEvent() async throws {
        var bad = sweep(of: VirtualCell(), channel: ChannelID(3))
        var random = SplitMix64(seed: 17)
        for k in bad.points.indices {
            bad.points[k].zReal *= 1 + 0.3 * (2 * random.nextUnit() - 1)
            bad.points[k].zImag *= 1 + 0.3 * (2 * random.nextUnit() - 1)
        }
        let result = try await analyse([bad], circuit: "li-ion")
        let inverse = try #require(result.delivered.first?.analysis.inverse)
        #expect(inverse.abnormal && inverse.residual > inverse.limit)
        let events = result.events.filter { $0.kind == "data-quality" }
        #expect(events.count == 1, "\(result.events)")
        #expect(events.first?.message.contains("channel A03 sweep #7") == true)
    }
}

final class Collected: @unchecked Sendable {
    private var items: [AnalyzedSweep] = []
    private let lock = NSLock()
    func append(_ a: AnalyzedSweep) { lock.withLock { items.append(a) } }
    var all: [AnalyzedSweep] { lock.withLock { items } }
    var count: Int { lock.withLock { items.count } }
}
