import BenchCore
import Numerics

/// A measured impedance spectrum: frequencies in Hz and impedances in Ω (capacitive Im < 0).
public struct Spectrum: Sendable, Hashable {
    public var frequencies: [Double]
    public var impedance: [Complex<Double>]

    public init(frequencies: [Double], impedance: [Complex<Double>]) {
        precondition(frequencies.count == impedance.count, "one impedance per frequency")
        self.frequencies = frequencies
        self.impedance = impedance
    }

    public init(points: [ImpedancePoint]) {
        self.init(frequencies: points.map(\.frequency), impedance: points.map { Complex($0.zReal, $0.zImag) })
    }

    public var count: Int { frequencies.count }

    /// The points with a positive, finite frequency and finite impedance, or a reason naming the first bad one.
    func validated() -> String? {
        guard !frequencies.isEmpty else { return "the spectrum has no points" }
        for (k, f) in frequencies.enumerated() {
            guard f.isFinite, f > 0 else { return "point \(k + 1): frequency \(f) Hz is not a positive number" }
            guard impedance[k].isFinite else { return "point \(k + 1) (\(f) Hz): impedance is not finite" }
        }
        return nil
    }

    /// The points whose imaginary part is not positive: impedance.py's `ignoreBelowX`, which drops
    /// the inductive high-frequency points before fitting capacitive circuits.
    public func droppingInductivePoints() -> Spectrum {
        let keep = impedance.indices.filter { impedance[$0].imaginary <= 0 }
        return Spectrum(frequencies: keep.map { frequencies[$0] }, impedance: keep.map { impedance[$0] })
    }
}
