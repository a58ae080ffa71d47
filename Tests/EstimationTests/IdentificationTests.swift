import Foundation
import Testing
import Fractional
@testable import Estimation

@Suite struct IdentificationTests {
    /// A recording simulated from known parameters (pulses, rests, a logging gap) is fitted back to them.
    @Test func recoversKnownFractionalParameters() throws {
        let ocv = try OCVTable(soc: [0, 0.5, 1], voltage: [3.2, 3.7, 4.2])
        let truth = CellModel(capacityAh: 3, ocv: ocv, seriesResistance: 0.025,
                              elements: [.parallelCPE(r: 0.012, t: 150, alpha: 0.7), .parallelCPE(r: 0.02, t: 8000, alpha: 0.85)])
        var times: [Double] = [], currents: [Double] = []
        var t = 0.0
        for level in 0..<3 {
            if level > 0 { t += 3000 }  // a gap: rows missing, the cell rests
            for pulse in [-3.0, -6.0, -12.0] {
                for _ in 0..<20 { times.append(t); currents.append(0); t += 1 }
                for _ in 0..<100 { times.append(t); currents.append(pulse); t += 0.1 }
                for k in 0..<300 { times.append(t); currents.append(0); t += k < 100 ? 0.1 : (k < 200 ? 1 : 10) }
            }
        }
        // Each segment starts rested: simulate each from rest at its SOC.
        var voltages: [Double] = []
        var simulator = CellSimulator(model: truth, initialSOC: 0.9)
        for n in times.indices {
            if n > 0 && times[n] - times[n - 1] > 600 {
                simulator = CellSimulator(model: truth, initialSOC: simulator.soc - 0.2)
            } else if n > 0 {
                simulator.advance(by: times[n] - times[n - 1], current: currents[n - 1])
            }
            voltages.append(simulator.voltage(current: currents[n]))
        }
        var options = PulseIdentification.Options()
        options.windowAfterPulse = 1e4
        let fit = try PulseIdentification(times: times, currents: currents, voltages: voltages, ocv: ocv, capacityAh: 3,
                                          options: options).fit()
        #expect(fit.rmsResidual < 1e-5, "rms residual \(fit.rmsResidual)")
        #expect(abs(fit.model.seriesResistance / 0.025 - 1) < 1e-3)
        let fitted = fit.model.elements.compactMap { element -> (Double, Double)? in
            if case let .parallelCPE(r, _, alpha) = element { return (r, alpha) }
            return nil
        }.sorted { $0.0 < $1.0 }
        #expect(fitted.count == 2)
        if fitted.count == 2 {
            #expect(abs(fitted[0].0 / 0.012 - 1) < 0.02 && abs(fitted[0].1 - 0.7) < 0.01, "\(fitted)")
            #expect(abs(fitted[1].0 / 0.02 - 1) < 0.02 && abs(fitted[1].1 - 0.85) < 0.01, "\(fitted)")
        }
    }
}
