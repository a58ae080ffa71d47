import BenchCore
import Numerics

/// A cell's impedance sweeps over time reduced by its reference (beginning-of-life)
/// sweep, on one log-frequency grid: the matrix `AgeingModes` factors.
///
/// Each row is one sweep: `ΔRe/s_re` at every grid frequency, then `ΔIm/s_im`,
/// with `Δ = Z_sweep − Z_reference` and `s_re`, `s_im` the RMS of the
/// reference's real and imaginary parts over the grid, so both halves weigh alike.
public struct SweepHistory: Sendable, Hashable {
    /// Grid frequencies, Hz, from high to low.
    public let frequencies: [Double]
    public let rows: [[Double]]
    /// Scales of the real and imaginary halves, Ω.
    public let realScale: Double
    public let imaginaryScale: Double

    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case tooFewPoints(sweep: Int)
        case noCommonRange
        public var description: String {
            switch self {
            case .tooFewPoints(let index):
                index < 0 ? "the reference sweep has fewer than 2 valid points" : "sweep \(index) has fewer than 2 valid points"
            case .noCommonRange: "the sweeps share no frequency range"
            }
        }
    }

    /// - Parameter pointsPerDecade: density of the common grid over the frequency range all sweeps cover.
    public init(reference: [ImpedancePoint], sweeps: [[ImpedancePoint]], pointsPerDecade: Int = 10) throws(Failure) {
        let ref = try Self.sorted(reference, index: -1)
        var curves: [[ImpedancePoint]] = []
        for (index, sweep) in sweeps.enumerated() { curves.append(try Self.sorted(sweep, index: index)) }
        var low = ref[0].frequency, high = ref[ref.count - 1].frequency
        for curve in curves {
            low = max(low, curve[0].frequency)
            high = min(high, curve[curve.count - 1].frequency)
        }
        guard high > low else { throw .noCommonRange }
        let count = Int((Double.log10(high / low) * Double(max(pointsPerDecade, 1)) + 1e-9).rounded(.down)) + 1
        let grid = (0..<count).map { k in count == 1 ? high : high * Double.pow(low / high, Double(k) / Double(count - 1)) }
        let base = grid.map { Self.interpolate(ref, at: $0) }
        func rms(_ values: [Double]) -> Double {
            let r = (values.reduce(0) { $0 + $1 * $1 } / Double(max(values.count, 1))).squareRoot()
            return r > 0 ? r : 1
        }
        frequencies = grid
        realScale = rms(base.map(\.re))
        imaginaryScale = rms(base.map(\.im))
        let (sRe, sIm) = (realScale, imaginaryScale)
        rows = curves.map { curve in
            let z = grid.map { Self.interpolate(curve, at: $0) }
            return zip(z, base).map { ($0.re - $1.re) / sRe } + zip(z, base).map { ($0.im - $1.im) / sIm }
        }
    }

    /// A signature column (as `AgeingModes.signatures` gives it) back in Ω: real and imaginary change per grid frequency.
    public func ohms(_ signature: [Double]) -> (real: [Double], imaginary: [Double]) {
        let n = frequencies.count
        guard signature.count == 2 * n else { return ([], []) }
        return (signature[0..<n].map { $0 * realScale }, signature[n...].map { $0 * imaginaryScale })
    }

    /// Valid points in increasing frequency.
    private static func sorted(_ points: [ImpedancePoint], index: Int) throws(Failure) -> [ImpedancePoint] {
        let valid = points.filter { $0.frequency > 0 && $0.frequency.isFinite && $0.zReal.isFinite && $0.zImag.isFinite }
            .sorted { $0.frequency < $1.frequency }
        guard valid.count >= 2 else { throw .tooFewPoints(sweep: index) }
        return valid
    }

    /// Linear in log-frequency between the neighbouring points (`curve` increasing, `f` within its range).
    private static func interpolate(_ curve: [ImpedancePoint], at f: Double) -> (re: Double, im: Double) {
        var hi = 1
        while hi < curve.count - 1 && curve[hi].frequency < f { hi += 1 }
        let a = curve[hi - 1], b = curve[hi]
        let x = (Double.log(f) - Double.log(a.frequency)) / (Double.log(b.frequency) - Double.log(a.frequency))
        return (a.zReal + (b.zReal - a.zReal) * x, a.zImag + (b.zImag - a.zImag) * x)
    }
}
