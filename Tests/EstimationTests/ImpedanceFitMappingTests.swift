import ComplexModule
import Foundation
import Electrochem
import Testing
import Fractional
@testable import Estimation

@Suite struct ImpedanceFitMappingTests {
    /// A spectrum computed from a known cell model, fitted by the impedance engine and mapped
    /// back, gives that model's parameters (noise-free data: 1e-4 relative).
    @Test func fitOfModelSpectrumMapsBack() throws {
        let truth = CellModel(capacityAh: 3, seriesResistance: 0.025,
                              elements: [.parallelCPE(r: 0.018, t: 3.4, alpha: 0.65), .warburg(sigma: 2e-3)])
        let frequencies = (0..<50).map { pow(10, -2 + 5 * Double($0) / 49) }
        let impedance = frequencies.map { f -> Complex<Double> in
            var z = Complex(truth.seriesResistance, 0)
            for element in truth.elements { z += element.impedance(omega: 2 * .pi * f) }
            return z
        }
        let circuit = try Circuit("R0-p(R1,CPE1)-W1")
        let options = FitOptions(initialGuess: ["R0": 0.02, "R1": 0.02, "CPE1_0": 3, "CPE1_1": 0.7, "W1": 1e-3])
        let fit = try circuit.fit(Spectrum(frequencies: frequencies, impedance: impedance), options: options)
        let mapped = try ImpedanceFitParameters(fit: fit).cellModel(capacityAh: 3, ocv: .zero)
        #expect(abs(mapped.seriesResistance / 0.025 - 1) < 1e-4)
        guard mapped.elements.count == 2, case let .parallelCPE(r, t, alpha) = mapped.elements[0],
              case let .diffusionCPE(q, beta) = mapped.elements[1] else {
            Issue.record("unexpected elements \(String(describing: mapped.elements))")
            return
        }
        #expect(abs(r / 0.018 - 1) < 1e-4 && abs(t / 3.4 - 1) < 1e-4 && abs(alpha - 0.65) < 1e-4, "\(String(describing: mapped.elements))")
        #expect(abs(1 / (q * Double(2).squareRoot()) / 2e-3 - 1) < 1e-4 && beta == 0.5)
    }

    @Test func seriesTermsSplitOutsideParentheses() {
        #expect(ImpedanceFitParameters.seriesTerms("R0-p(R1,CPE1)-p(R2, C2)-W1") == ["R0", "p(R1,CPE1)", "p(R2,C2)", "W1"])
    }
}
