/// Capacity fade `Q(n) = Q0 − a·√n − b·n` fitted by least squares to a cell's
/// capacity history, `n` in equivalent full cycles, with the parameter
/// covariance, and the forecast of the crossing of a threshold (80 % of rated).
public struct FadeModel: Sendable, Hashable {
    /// Fitted Q0 (Ah), a (Ah per √cycle), b (Ah per cycle).
    public let q0: Double, a: Double, b: Double
    /// Covariance of (Q0, a, b), row-major 3×3.
    public let covariance: [Double]
    /// Residual standard deviation, Ah.
    public let residualSigma: Double
    public let pointCount: Int

    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case notEnoughData(points: Int)
        case degenerate
        public var description: String {
            switch self {
            case .notEnoughData(let n): "not enough data: \(n) capacity points, at least \(FadeModel.minimumPoints) needed"
            case .degenerate: "capacity points do not span enough cycles to separate √n and n terms"
            }
        }
    }

    /// Points a fit needs: 3 parameters and 2 degrees of freedom.
    public static let minimumPoints = 5

    /// Fits `capacities` (Ah) at `cycles` (equivalent full cycles). Needs `minimumPoints` points.
    public static func fit(cycles: [Double], capacities: [Double]) -> Result<FadeModel, Failure> {
        let n = min(cycles.count, capacities.count)
        guard n >= minimumPoints else { return .failure(.notEnoughData(points: n)) }
        // Fitted in u = n / span so the normal matrix is well scaled, then scaled back.
        let span = max(cycles.prefix(n).max() ?? 0, 1e-9)
        var normal = [Double](repeating: 0, count: 9), rhs = [Double](repeating: 0, count: 3)
        for k in 0..<n {
            let x = basis(max(cycles[k], 0) / span)
            for i in 0..<3 {
                rhs[i] += x[i] * capacities[k]
                for j in 0..<3 { normal[i * 3 + j] += x[i] * x[j] }
            }
        }
        guard let inverse = invert3(normal) else { return .failure(.degenerate) }
        let beta = (0..<3).map { i in (0..<3).reduce(0) { $0 + inverse[i * 3 + $1] * rhs[$1] } }
        var sse = 0.0
        for k in 0..<n {
            let x = basis(max(cycles[k], 0) / span)
            let r = capacities[k] - (beta[0] * x[0] + beta[1] * x[1] + beta[2] * x[2])
            sse += r * r
        }
        let s2 = sse / Double(n - 3)
        // (Q0, a, b) = S·β with S = diag(1, 1/√span, 1/span); covariance S·C·S.
        let scale = [1, 1 / span.squareRoot(), 1 / span]
        var covariance = [Double](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 { covariance[i * 3 + j] = inverse[i * 3 + j] * s2 * scale[i] * scale[j] } }
        return .success(FadeModel(q0: beta[0], a: beta[1] * scale[1], b: beta[2] * scale[2], covariance: covariance,
                                  residualSigma: s2.squareRoot(), pointCount: n))
    }

    /// Fitted capacity at `n` cycles and its standard deviation (parameter uncertainty only), Ah.
    public func capacity(at n: Double) -> (value: Double, sigma: Double) {
        let x = Self.basis(max(n, 0))
        // x = (1, −√n, −n), so this is Q0 − a√n − b·n.
        let value = q0 + a * x[1] + b * x[2]
        var variance = 0.0
        for i in 0..<3 { for j in 0..<3 { variance += x[i] * covariance[i * 3 + j] * x[j] } }
        return (value, max(variance, 0).squareRoot())
    }

    /// When the fitted capacity, and its band at ±`z` standard deviations, first fall to
    /// `threshold` Ah, searching from `from` up to `horizon` cycles. nil entries: not reached
    /// within the horizon.
    public func crossing(of threshold: Double, from: Double, horizon: Double, z: Double = 1.645)
        -> (central: Double?, early: Double?, late: Double?) {
        func first(_ offset: Double) -> Double? {
            func f(_ n: Double) -> Double { let c = capacity(at: n); return c.value + offset * c.sigma - threshold }
            if f(from) <= 0 { return from }
            // Scan on a geometric grid for the first sign change, then bisect.
            var lo = from, hi = from
            var step = max(from * 0.01, 1)
            while hi < horizon {
                lo = hi
                hi = min(hi + step, horizon)
                step *= 1.2
                if f(hi) <= 0 {
                    for _ in 0..<60 { let mid = (lo + hi) / 2; if f(mid) <= 0 { hi = mid } else { lo = mid } }
                    return hi
                }
            }
            return nil
        }
        return (first(0), first(-z), first(z))
    }

    private static func basis(_ n: Double) -> [Double] { [1, -n.squareRoot(), -n] }

    /// Inverse of a symmetric 3×3 matrix by cofactors, nil when (near) singular.
    private static func invert3(_ m: [Double]) -> [Double]? {
        let c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6]
        let det = m[0] * c00 + m[1] * c01 + m[2] * c02
        let scale = m.reduce(0) { max($0, abs($1)) }
        guard det.isFinite, abs(det) > 1e-10 * scale * scale * scale else { return nil }
        let inv = [
            c00, m[2] * m[7] - m[1] * m[8], m[1] * m[5] - m[2] * m[4],
            c01, m[0] * m[8] - m[2] * m[6], m[2] * m[3] - m[0] * m[5],
            c02, m[1] * m[6] - m[0] * m[7], m[0] * m[4] - m[1] * m[3],
        ]
        return inv.map { $0 / det }
    }
}
