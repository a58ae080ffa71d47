import Testing
import Numerics
import BenchCore
@testable import Simulator

@Suite struct VirtualCellTests {
    @Test func coulombCountingMatchesCapacity() {
        var p = CellParameters()
        p.capacityAh = 2.0
        var cell = VirtualCell(parameters: p, soc: 0.5)
        // 1 A for 1800 s = 0.5 Ah = 25 % of 2 Ah.
        for _ in 0..<1800 { cell.step(current: 1, dt: 1) }
        #expect(abs(cell.soc - 0.75) < 1e-12)
        #expect(abs(cell.chargeAh - 0.5) < 1e-12)
    }

    @Test func branchVoltageFollowsExactRCStepResponse() {
        var p = CellParameters()
        p.branches = [.init(rOhm: 0.01, cFarad: 1000)]   // τ = 10 s
        p.capacityAh = 1e9                               // keep OCV fixed
        var cell = VirtualCell(parameters: p, soc: 0.5)
        let ocv = p.openCircuitVoltage(soc: 0.5)
        // Uneven steps: the exact ZOH update does not depend on the grid.
        for dt in [0.3, 1.7, 2.0, 6.0] { cell.step(current: 2, dt: dt) }
        let t = 10.0
        let expected = ocv + 2 * p.r0Ohm + 0.01 * 2 * (1 - Double.exp(-t / 10))
        #expect(abs(cell.terminalVoltage - expected) < 1e-9)
    }

    @Test func impedanceLimitsAreSeriesResistanceAndSumOfArcs() {
        var p = CellParameters()
        p.warburgSigma = 0
        p.inductanceH = 0
        let cell = VirtualCell(parameters: p)
        let high = cell.impedance(frequency: 1e9)
        let low = cell.impedance(frequency: 1e-9)
        // High frequency: only the electrolyte; DC: the fast arcs add up to the step resistance R0.
        #expect(abs(high.real - (p.r0Ohm - 0.004 - 0.008)) < 1e-6)
        #expect(abs(low.real - p.r0Ohm) < 1e-5)
        // Capacitive arcs: negative imaginary part at intermediate frequencies.
        #expect(cell.impedance(frequency: 1).imaginary < 0)
    }

    @Test func cyclingProgramRunsFullCCCVCycles() {
        var p = CellParameters()
        p.capacityAh = 1
        var cell = VirtualCell(parameters: p, soc: 0.2)
        var program = CyclingProgram(capacityAh: 1, restSeconds: 60)
        var maxVoltage = 0.0
        var rests = 0
        for _ in 0..<30_000 {
            let (i, restBegan) = program.nextCurrent(for: cell)
            if restBegan { rests += 1 }
            cell.step(current: i, dt: 1)
            maxVoltage = max(maxVoltage, cell.terminalVoltage)
        }
        #expect(program.cycles >= 2)
        #expect(rests >= 4)
        // CV holds the upper voltage within the one-step lag of the branches.
        #expect(maxVoltage < program.upperVoltage + 0.01)
    }

    @Test func benchTickPublishesSequencedSamplesAndSweeps() {
        var settings = SimulatedBenchSettings()
        settings.timeScale = 600
        var bench = SimulatedBench(channels: [(ChannelID(0), 3), (ChannelID(1), 3)], settings: settings)
        let streams = BenchStreams(sampleCapacity: 1 << 16)
        for _ in 0..<2000 { bench.tick(into: streams, now: .now()) }
        var cursor = RingCursor(position: 0)
        var out: [Sample] = []
        streams.samples.read(&cursor, into: &out)
        let first = out.filter { $0.channel == ChannelID(0) }.map(\.sequence)
        #expect(first == Array(1...2000))
        var sweepCursor = RingCursor(position: 0)
        var sweeps: [Sweep] = []
        streams.sweeps.read(&sweepCursor, into: &sweeps)
        #expect(!sweeps.isEmpty)
        #expect(sweeps.allSatisfy { $0.points.count == settings.sweep.pointCount && $0.status == .complete })
    }
}
