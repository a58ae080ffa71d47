import Testing
import Foundation
import BenchCore
@testable import Electrochem

@Suite struct AgeingModesTests {
    static let frequencies = (0..<24).map { 10_000 * pow(10, -Double($0) / 4.6) }

    /// Spectral signature of a unit change of an element, Re then Im columns.
    static func signature(_ z: (Double) -> (re: Double, im: Double)) -> [Double] {
        let values = frequencies.map(z)
        return values.map(\.re) + values.map(\.im)
    }
    /// Growth of the series resistance.
    static let series = signature { _ in (1, 0) }
    /// Growth of a mid-frequency arc (τ = 10 ms).
    static let arc = signature { f in
        let x = 2 * Double.pi * f * 0.01
        return (1 / (1 + x * x), -x / (1 + x * x))
    }
    /// Shrinking low-frequency arc (τ = 1 s): a signed signature.
    static let shrinking = signature { f in
        let x = 2 * Double.pi * f
        return (-0.5 / (1 + x * x), 0.5 * x / (1 + x * x))
    }

    /// A bump on `range` of sweep indices (zero elsewhere), so each mode has sweeps where it acts alone.
    static func bump(_ range: ClosedRange<Double>, count: Int = 60) -> [Double] {
        (0..<count).map { t in
            let x = (Double(t) - range.lowerBound) / (range.upperBound - range.lowerBound)
            return x > 0 && x < 1 ? pow(sin(.pi * x), 2) : 0
        }
    }

    static func history(_ modes: [([Double], [Double])], noise: Double = 0, seed: UInt64 = 3) -> [[Double]] {
        var random = SplitMix64(seed: seed)
        let rows = modes[0].0.count, columns = modes[0].1.count
        return (0..<rows).map { i in
            (0..<columns).map { j in
                modes.reduce(0) { $0 + $1.0[i] * $1.1[j] } + noise * (2 * random.nextUnit() - 1)
            }
        }
    }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        let na = a.reduce(0) { $0 + $1 * $1 }.squareRoot(), nb = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return dot / (na * nb)
    }

    /// For each true mode, the best cosine similarity of activation and signature among the recovered modes.
    static func recovery(_ modes: AgeingModes, truth: [([Double], [Double])]) -> [(w: Double, h: Double)] {
        truth.map { (w, h) in
            (0..<modes.rank).map { k in
                (cosine(w, modes.activations.map { $0[k] }), cosine(h, modes.signatures.map { $0[k] }))
            }.max { $0.0 + $0.1 < $1.0 + $1.1 } ?? (0, 0)
        }
    }

    @Test func recoversTwoModesExactly() throws {
        let truth = [(Self.bump(-5...30), Self.series.map { $0 * 0.004 }), (Self.bump(20...65), Self.arc.map { $0 * 0.006 })]
        let modes = try AgeingModes.factor(Self.history(truth), options: AgeingModeOptions(rank: 2))
        #expect(modes.relativeResidual < 1e-4)
        for r in Self.recovery(modes, truth: truth) {
            #expect(r.w > 0.99 && r.h > 0.99, "cosines \(r)")
        }
    }

    @Test func recoversThreeModesWithASignedSignature() throws {
        let truth = [(Self.bump(-5...25), Self.series), (Self.bump(15...45), Self.arc), (Self.bump(35...65), Self.shrinking)]
        let modes = try AgeingModes.factor(Self.history(truth), options: AgeingModeOptions(rank: 3))
        #expect(modes.relativeResidual < 1e-3)
        for r in Self.recovery(modes, truth: truth) {
            #expect(r.w > 0.99 && r.h > 0.99, "cosines \(r)")
        }
    }

    @Test func orthogonalVariantSeparatesDisjointActivations() throws {
        let truth = [(Self.bump(-1...30), Self.series), (Self.bump(29...61), Self.arc)]
        let modes = try AgeingModes.factor(Self.history(truth), options: AgeingModeOptions(rank: 2, orthogonal: true))
        for r in Self.recovery(modes, truth: truth) {
            #expect(r.w > 0.99 && r.h > 0.99, "cosines \(r)")
        }
        let overlap = modes.activations.reduce(0) { $0 + $1[0] * $1[1] }
        #expect(overlap < 0.01)
    }

    @Test func crossValidationFindsTheTrueRank() throws {
        let two = [(Self.bump(-5...30), Self.series), (Self.bump(20...65), Self.arc)]
        let three = two + [(Self.bump(35...65), Self.shrinking)]
        // Noise at 1 % of the largest entry.
        var options = AgeingModeOptions(rank: 1)
        options.starts = 1
        #expect(try AgeingModes.chooseRank(Self.history(two, noise: 0.01), ranks: 1...4, options: options) == 2)
        #expect(try AgeingModes.chooseRank(Self.history(three, noise: 0.01), ranks: 1...4, options: options) == 3)
    }

    @Test func resultsAreReproducible() throws {
        let v = Self.history([(Self.bump(-5...30), Self.series), (Self.bump(20...65), Self.arc)], noise: 0.01)
        let a = try AgeingModes.factor(v, options: AgeingModeOptions(rank: 2))
        let b = try AgeingModes.factor(v, options: AgeingModeOptions(rank: 2))
        #expect(a == b)
    }

    @Test func badInputIsRejectedWithItsPlace() {
        #expect(throws: AgeingModeError.emptyMatrix) { try AgeingModes.factor([], options: AgeingModeOptions(rank: 1)) }
        #expect(throws: AgeingModeError.raggedRow(index: 1, count: 1, expected: 2)) {
            try AgeingModes.factor([[1, 2], [3]], options: AgeingModeOptions(rank: 1))
        }
        #expect(throws: AgeingModeError.nonFinite(row: 0, column: 1)) {
            try AgeingModes.factor([[1, .nan]], options: AgeingModeOptions(rank: 1))
        }
        #expect(throws: AgeingModeError.badRank(3, maximum: 2)) {
            try AgeingModes.factor([[1, 2], [3, 4]], options: AgeingModeOptions(rank: 3))
        }
    }
}

@Suite struct SweepHistoryTests {
    private func spectrum(series: Double, frequencies: [Double]) -> [ImpedancePoint] {
        frequencies.map { f in
            let x = 2 * Double.pi * f * 0.01
            return ImpedancePoint(frequency: f, zReal: series + 0.01 / (1 + x * x), zImag: -0.01 * x / (1 + x * x))
        }
    }

    @Test func rowsAreScaledDifferencesOnTheCommonGrid() throws {
        let wide = (0..<41).map { 10_000 * pow(10, -Double($0) / 8) }      // 10 kHz … 0.1 Hz
        let narrow = (0..<33).map { 1_000 * pow(10, -Double($0) / 8) }     // 1 kHz … 0.1 Hz, other order below
        let history = try SweepHistory(reference: spectrum(series: 0.02, frequencies: wide),
                                       sweeps: [spectrum(series: 0.021, frequencies: narrow.reversed())], pointsPerDecade: 8)
        #expect(history.frequencies.count == 33)
        #expect(abs(history.frequencies[0] - 1_000) < 1e-9 && abs((history.frequencies.last ?? 0) - 0.1) < 1e-12)
        // A pure series-resistance change: +1 mΩ on every real column, nothing on the imaginary ones.
        let (re, im) = history.ohms(history.rows[0])
        #expect(re.allSatisfy { abs($0 - 0.001) < 1e-12 })
        #expect(im.allSatisfy { abs($0) < 1e-12 })
    }

    @Test func sweepsWithoutOverlapAreRejected() {
        let low = spectrum(series: 0.02, frequencies: [1, 0.1]), high = spectrum(series: 0.02, frequencies: [1000, 100])
        #expect(throws: SweepHistory.Failure.noCommonRange) { try SweepHistory(reference: low, sweeps: [high]) }
        #expect(throws: SweepHistory.Failure.tooFewPoints(sweep: 0)) { try SweepHistory(reference: low, sweeps: [[]]) }
    }
}
