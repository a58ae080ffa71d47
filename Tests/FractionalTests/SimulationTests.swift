import Foundation
import Testing
@testable import Fractional

/// Values of the thesis (§4, Tables 4.3–4.5): R0, R1 ∥ CPE(T, α) and a Warburg σ.
enum Thesis {
    static let r0 = 6.63e-2, r1 = 1.79e-2, t = 3.42, sigma = 8.56e-6

    /// Closed-form response to a 1 A step of the α = 2/3 model.
    static func stepResponse(_ time: Double) -> Double {
        let alpha = 2.0 / 3.0
        return r0 + r1 * (1 - MittagLeffler.evaluate(-pow(time, alpha) / (r1 * t), alpha: alpha))
            + Double(2).squareRoot() * sigma * 2 * (time / .pi).squareRoot()
    }

    /// The 7-state model of order 1/6 (α rounded to 2/3, L dropped).
    static func stateSpace() throws -> CommensurateSystem {
        var a = Array(repeating: Array(repeating: 0.0, count: 7), count: 7)
        for i in 0..<6 { a[i][i + 1] = 1 }
        a[6][3] = -1 / (t * r1)
        let b: [Double] = [0, 0, 0, 0, 0, 0, 1]
        let c = [Double(2).squareRoot() * sigma / (r1 * t), 0, 0, 1 / t, Double(2).squareRoot() * sigma, 0, 0]
        return try CommensurateSystem(order: 1.0 / 6.0, a: a, b: b, c: c, d: r0)
    }

    static var model: CellModel {
        CellModel(capacityAh: 5, seriesResistance: r0,
                  elements: [.parallelCPE(r: r1, t: t, alpha: 2.0 / 3.0), .warburg(sigma: sigma)])
    }
}

@Suite struct SimulationTests {
    @Test func closedFormMatchesPublishedValues() {
        // Values printed in the notes (6 significant digits).
        #expect(abs(Thesis.stepResponse(1e-3) - 0.069174) < 1e-6)
        #expect(abs(Thesis.stepResponse(0.1) - 0.082011) < 1e-6)
        #expect(abs(Thesis.stepResponse(1) - 0.083788) < 1e-6)
    }

    /// (a) The 7-state order-1/6 model, solved exactly through complex Mittag-Leffler values,
    /// matches the closed form to 1e-9 relative over 1e-4…3600 s; the series method does not.
    @Test func sevenStateModelStepResponse() throws {
        let system = try Thesis.stateSpace()
        #expect(system.poles.count == 4)
        #expect(system.integratorCoefficients.count == 3)
        // Matignon: the four poles λ⁴ = -1/(T R1) have |arg| = π/4 or 3π/4 > π/12, but the
        // triple pole at 0 (the Warburg integrator) makes the model only marginally stable.
        #expect(system.poles.allSatisfy { abs($0.phase) > Double.pi / 12 })
        #expect(!system.isAsymptoticallyStable)
        var worst = 0.0
        for i in 0...70 {
            let time = 1e-4 * pow(3.6e7, Double(i) / 70)
            worst = max(worst, abs(system.stepResponse(time) / Thesis.stepResponse(time) - 1))
        }
        #expect(worst < 1e-9, "worst relative error \(worst)")

        // The series method: fine at 0.1 s, wrong by orders of magnitude from about 1 s on.
        #expect(abs(system.stepResponseBySeries(0.1) / Thesis.stepResponse(0.1) - 1) < 1e-9)
        let late = system.stepResponseBySeries(2) / Thesis.stepResponse(2) - 1
        #expect(!(abs(late) < 1e-2), "series relative error at 2 s: \(late)")
    }

    /// (a) The fast exponential-sum simulator on a geometric grid reproduces the same step response.
    @Test func fastSimulatorStepResponse() {
        let times = (0...400).map { $0 == 0 ? 0 : 1e-4 * pow(3.6e7, Double($0 - 1) / 399) }
        let currents = Array(repeating: 1.0, count: times.count)
        let simulated = CellSimulator.simulate(Thesis.model, times: times, currents: currents, initialSOC: 0.5, minimumStep: 1e-5)
        var worst = 0.0
        for n in 1..<times.count {
            worst = max(worst, abs(simulated[n] / Thesis.stepResponse(times[n]) - 1))
        }
        #expect(worst < 1e-9, "worst relative error \(worst)")
        #expect(simulated[0] == Thesis.r0)
    }

    @Test func exponentialSumErrorBound() {
        // Stated bound: 1e-12 V per A of step (elements of 0.01–1 Ω scale) over 1 ms…10⁷ s, with fewer
        // than 300 modes for α ≤ 0.8; α → 1 narrows the analytic strip, so α = 0.9 needs more.
        let cases: [(RelaxationElement, Int)] = [
            (.parallelCPE(r: 0.0179, t: 3.42, alpha: 0.633), 300), (.warburg(sigma: 1e-3), 300),
            (.diffusionCPE(q: 200, beta: 0.3), 300), (.parallelCPE(r: 0.01, t: 500, alpha: 0.9), 1000),
        ]
        for (element, modes) in cases {
            let sum = ExponentialSum(element: element, minimumStep: 1e-3, horizon: 1e7)
            #expect(sum.maximumError() < 1e-12, "\(element): \(sum.maximumError())")
            #expect(sum.rates.count < modes, "\(element): \(sum.rates.count) modes")
        }
    }

    /// (b) Fast kernel and full memory (exact kernel, FFT convolution) agree to 1e-6 relative
    /// over 10⁶ steps of a dynamic current profile.
    @Test func fastAgreesWithFullMemoryOverAMillionSteps() {
        let count = 1_000_000
        let step = 0.1
        var state: UInt64 = 12345
        let currents = (0..<count).map { n -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Double(state >> 11) / Double(1 << 53) - 0.5
            return 3 * sin(Double(n) * step / 600) + 4 * noise
        }
        for element in [RelaxationElement.parallelCPE(r: 0.0179, t: 3.42, alpha: 0.633), .warburg(sigma: 1e-3)] {
            var memory = ElementMemory(element: element, minimumStep: step, horizon: Double(count) * step)
            var fast = Array(repeating: 0.0, count: count)
            for n in 1..<count {
                memory.advance(by: step, current: currents[n - 1])
                fast[n] = memory.voltage
            }
            let full = FullMemory.convolveUniform(element, step: step, currents: currents)
            let scale = full.map(abs).max() ?? 1
            var worst = 0.0
            for n in 0..<count { worst = max(worst, abs(fast[n] - full[n])) }
            #expect(worst / scale < 1e-6, "\(element): worst \(worst) against scale \(scale)")
        }
    }

    /// (c) Convergence orders against the exact ramp response v(t) = t^(α+1)/T · E_{α,α+2}(-t^α/(RT)):
    /// zero-order hold at the left end is first order, at the midpoint order 1+α; Grünwald–Letnikov first order.
    @Test func convergenceOrders() {
        let alpha = 0.5
        let element = RelaxationElement.parallelCPE(r: 1, t: 1, alpha: alpha)
        let exact = MittagLeffler.evaluate(-1.0, alpha: alpha, beta: alpha + 2)
        func errors(_ solve: (Int) -> Double) -> [Double] { [10, 20, 40, 80, 160].map { abs(solve($0) - exact) } }
        func orders(_ e: [Double]) -> [Double] { (1..<e.count).map { log2(e[$0 - 1] / e[$0]) } }
        func zeroOrderHold(_ offset: Double) -> (Int) -> Double {
            { n in
                let h = 1 / Double(n)
                var memory = ElementMemory(element: element, minimumStep: h, horizon: 1)
                for j in 0..<n { memory.advance(by: h, current: (Double(j) + offset) * h) }
                return memory.voltage
            }
        }
        let left = orders(errors(zeroOrderHold(0)))
        let midpoint = orders(errors(zeroOrderHold(0.5)))
        let gl = orders(errors { n in
            let h = 1 / Double(n)
            return FullMemory.grunwaldLetnikov(r: 1, t: 1, alpha: alpha, step: h, currents: (0...n).map { Double($0) * h })[n]
        })
        #expect(abs((left.last ?? 0) - 1) < 0.1, "left ZOH orders \(left)")
        #expect(abs((midpoint.last ?? 0) - (1 + alpha)) < 0.1, "midpoint ZOH orders \(midpoint)")
        #expect(abs((gl.last ?? 0) - 1) < 0.1, "Grünwald–Letnikov orders \(gl)")
    }

    /// Full-memory direct convolution on an uneven grid agrees with the fast path.
    @Test func unevenGridAgreesWithDirectConvolution() {
        var t = 0.0
        var times: [Double] = []
        var currents: [Double] = []
        for n in 0..<400 {
            times.append(t)
            currents.append(n % 37 < 10 ? -5 : (n % 53 < 5 ? 2 : 0))
            t += 0.05 + 0.9 * Double((n * 7919) % 13) / 13
        }
        let element = RelaxationElement.parallelCPE(r: 0.02, t: 40, alpha: 0.7)
        let full = FullMemory.convolve(element, times: times, currents: currents)
        var memory = ElementMemory(element: element, minimumStep: 0.05, horizon: t)
        var worst = 0.0
        for n in 1..<times.count {
            memory.advance(by: times[n] - times[n - 1], current: currents[n - 1])
            worst = max(worst, abs(memory.voltage - full[n]))
        }
        #expect(worst < 1e-11, "worst \(worst) V")
    }
}
