import BenchCore
import Testing
import Foundation
@testable import Estimation

@Suite struct FadeModelTests {
    /// Exact roots of 0.6 = a √n + b n: n = s² with b s² + a s − 0.6 = 0.
    private func trueCrossing(a: Double, b: Double, drop: Double) -> Double {
        let s = (-a + (a * a + 4 * b * drop).squareRoot()) / (2 * b)
        return s * s
    }

    @Test func exactDataGiveExactParametersAndCrossing() throws {
        let cycles = stride(from: 0.0, through: 200, by: 10).map { $0 }
        let capacities = cycles.map { 3 - 0.02 * $0.squareRoot() - 0.001 * $0 }
        let model = try FadeModel.fit(cycles: cycles, capacities: capacities).get()
        #expect(abs(model.q0 - 3) < 1e-10 && abs(model.a - 0.02) < 1e-10 && abs(model.b - 0.001) < 1e-10)
        let crossing = model.crossing(of: 2.4, from: 200, horizon: 10_000)
        let central = try #require(crossing.central)
        #expect(abs(central - trueCrossing(a: 0.02, b: 0.001, drop: 0.6)) < 1e-6)
    }

    @Test func tooFewPointsIsReportedNotGuessed() {
        let result = FadeModel.fit(cycles: [0, 1, 2, 3], capacities: [3, 2.99, 2.98, 2.97])
        #expect(result == .failure(.notEnoughData(points: 4)))
        #expect(FadeModel.fit(cycles: [5, 5, 5, 5, 5], capacities: [3, 3, 3, 3, 3]) == .failure(.degenerate))
    }

    /// The 90 % band of the fitted curve crosses 80 % around the true crossing: over many noisy
    /// histories the interval covers the truth in about 90 % of them (binomial spread over 300
    /// trials: ±5 points at 3σ).
    @Test func forecastIntervalCoversTheTruth() {
        var random = Gaussian(seed: 42)
        let truth = trueCrossing(a: 0.02, b: 0.001, drop: 0.6)
        var covered = 0
        let trials = 300
        for _ in 0..<trials {
            let cycles = stride(from: 0.0, through: 150, by: 5).map { $0 }
            let capacities = cycles.map { 3 - 0.02 * $0.squareRoot() - 0.001 * $0 + 0.004 * random.next() }
            guard case .success(let model) = FadeModel.fit(cycles: cycles, capacities: capacities) else { continue }
            let crossing = model.crossing(of: 2.4, from: 150, horizon: 100_000)
            if let early = crossing.early, let late = crossing.late, early <= truth, truth <= late { covered += 1 }
        }
        #expect(covered > 255 && covered < 285, "covered \(covered) of \(trials)")
    }
}

/// Standard normal draws (SplitMix64 and Box–Muller), reproducible from a seed.
struct Gaussian {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    private mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (Double((z ^ (z >> 31)) >> 11) + 0.5) / 9_007_199_254_740_992
    }
    mutating func next() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
}
