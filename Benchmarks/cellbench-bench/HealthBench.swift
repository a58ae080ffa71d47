import ArgumentParser
import BenchCore
import Estimation
import Foundation
import Simulator
import Fractional

/// Capacity tracking accuracy on a simulated ageing cohort: each cell cycles CC-CV at 1C with its
/// own fade and resistance growth, faster than real time, through a `HealthTracker`; every
/// capacity estimate is compared with the simulator's true capacity of that cycle.
struct HealthBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Capacity estimate error against the simulator's truth on an ageing cohort."
    )

    @Option(help: "Cells in the cohort.") var cells = 4
    @Option(help: "Simulated hours per cell.") var hours = 1000.0
    @Option(help: "Sample interval, s.") var dt = 2.0

    func run() throws {
        let ocv = try? OCVTable(soc: CellParameters.nmcOCV.map(\.soc), voltage: CellParameters.nmcOCV.map(\.volts))
        print("cell  fade a/Ah·√n  b/Ah·n  growth/n  estimates  mean |error|/% rated  max |error|/% rated  mean σ/% rated")
        var all: [Double] = []
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<cells {
            // Spread of ageing across the cohort: slow to fast.
            let spread = Double(index) / Double(max(cells - 1, 1))
            let ageing = CellAgeing(capacitySqrtFadeAh: 0.01 + 0.03 * spread, capacityLinearFadeAh: 0.0002 + 0.0006 * spread,
                                    resistanceGrowthPerCycle: 0.0005 + 0.001 * spread)
            var run = AgeingCellRun(channel: ChannelID(index), ageing: ageing, startSOC: 0.3 + 0.1 * Double(index % 5))
            var settings = HealthSettings(ratedCapacityAh: run.fresh.capacityAh)
            settings.ocv = ocv
            var tracker = HealthTracker(channel: ChannelID(index), settings: settings)
            // True capacity by program cycle: constant within a cycle, the run ages the cell between cycles.
            var truth: [(start: Int64, capacity: Double)] = [(0, run.capacityAh)]
            for _ in 0..<Int(hours * 3600 / dt) {
                let sample = run.step(dt: dt)
                if run.capacityAh != truth[truth.count - 1].capacity { truth.append((sample.time.monotonicNs - Int64(dt * 1e9), run.capacityAh)) }
                tracker.consume(sample) { _ in }
            }
            let rated = settings.ratedCapacityAh
            let errors = tracker.capacities.map { m in
                abs(m.capacityAh - (truth.last { $0.start < m.time.monotonicNs }?.capacity ?? truth[0].capacity)) / rated * 100
            }
            all += errors
            let meanSigma = tracker.capacities.reduce(0) { $0 + $1.sigmaAh } / Double(max(tracker.capacities.count, 1)) / rated * 100
            print(String(format: "%4d  %12.3f  %7.4f  %8.4f  %9d  %20.3f  %19.3f  %14.3f", index, ageing.capacitySqrtFadeAh,
                         ageing.capacityLinearFadeAh, ageing.resistanceGrowthPerCycle, errors.count,
                         errors.reduce(0, +) / Double(max(errors.count, 1)), errors.max() ?? .nan, meanSigma))
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print(String(format: "cohort: %d estimates, mean |error| %.3f %% of rated, max %.3f %%; %.0f simulated cell-hours in %.1f s (%.0f× real time)",
                     all.count, all.reduce(0, +) / Double(max(all.count, 1)), all.max() ?? .nan,
                     Double(cells) * hours, seconds, Double(cells) * hours * 3600 / seconds))
    }
}
