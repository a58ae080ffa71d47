#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension MittagLeffler {
    /// `E_{α,β}(z)` on the real line for one fixed `(α, β)`, tabulated once from the
    /// accurate contour method so that each later evaluation costs a fraction of a
    /// microsecond instead of microseconds (for code that evaluates the same
    /// function many times, such as exact convolutions and the observer).
    ///
    /// Pieces, each a Chebyshev expansion whose trailing coefficients are below
    /// the tolerance (pieces are halved until they are):
    /// - `|z| ≤ 1`: in `z` itself (E is entire there);
    /// - `z < -1`: in `y = ln(-z)/α` (`e^y = |z|^(1/α)`, the scale on which E varies),
    ///   up to where the asymptotic expansion `-Σ z^(-k)/Γ(β-αk)` is exact to
    ///   rounding (`0 < α < 1`; its terms are precomputed), or up to `negativeLimit`;
    /// - `z > 1`: `E(z)·e^(-w)`, `w = z^(1/α)`, in `y = ln w`, which takes out the
    ///   exponential growth, up to `w = 690` (E near the largest Double beyond).
    /// Arguments outside the tables go to `MittagLeffler.evaluate`.
    public struct RealFunction: Sendable {
        public let alpha: Double
        public let beta: Double
        private let center: ChebyshevPieces?
        private let negative: ChebyshevPieces?
        private let positive: ChebyshevPieces?
        /// `1/Γ(β - αk)`, k = 1, 2, …: the asymptotic expansion's coefficients.
        private let asymptotic: [Double]
        /// `|z|` from which the asymptotic expansion is used on the negative axis (∞: never).
        private let asymptoticStart: Double
        private let negativeLimit: Double
        private let positiveLimit: Double

        static let largestExponent = 690.0

        /// - Parameters:
        ///   - negativeLimit: `|z|` up to which the negative axis is tabulated when the asymptotic
        ///     expansion does not take over first (α ≥ 1, or α near 1).
        ///   - tolerance: bound on the trailing Chebyshev coefficients, relative to `max(|E|, 1e-3)` on each piece.
        public init(alpha: Double, beta: Double = 1, negativeLimit: Double = 1e4, tolerance: Double = 1e-14) {
            self.alpha = alpha
            self.beta = beta
            let exact = { (z: Double) in MittagLeffler.evaluate(z, alpha: alpha, beta: beta) }
            center = ChebyshevPieces(lower: -1, upper: 1, tolerance: tolerance, function: exact)

            let (start, coefficients) = Self.asymptoticRegion(alpha: alpha, beta: beta, limit: negativeLimit)
            asymptoticStart = start
            asymptotic = coefficients
            let negativeEnd = min(start, negativeLimit)
            self.negativeLimit = negativeEnd
            negative = ChebyshevPieces(lower: 0, upper: log(negativeEnd) / alpha, tolerance: tolerance) { y in
                exact(-exp(alpha * y))
            }

            let wMax = Self.largestExponent
            positiveLimit = alpha * log(wMax) < log(Double.greatestFiniteMagnitude) ? pow(wMax, alpha) : .infinity
            positive = positiveLimit > 1
                // Here the samples themselves carry up to w·1e-16 relative rounding (from e^w).
                ? ChebyshevPieces(lower: 0, upper: log(wMax), tolerance: 2 * tolerance) { y in
                    let w = exp(y)
                    return exact(pow(w, alpha)) * exp(-w)
                }
                : nil
        }

        /// Chebyshev pieces of the center, negative and positive tables (0: not tabulated, the contour method is used there).
        public var pieceCounts: [Int] { [center, negative, positive].map { $0?.pieceCount ?? 0 } }

        /// `E_{α,β}(z)`.
        public func callAsFunction(_ z: Double) -> Double {
            if let center, abs(z) <= 1 { return center.value(z) }
            if z < 0 {
                let magnitude = -z
                if magnitude >= asymptoticStart {
                    // -Σ_{k≥1} c_k u^k with u = 1/z, by Horner.
                    let u = 1 / z
                    var sum = 0.0
                    for c in asymptotic.reversed() { sum = sum * u + c }
                    return -sum * u
                }
                if let negative, magnitude <= negativeLimit { return negative.value(log(magnitude) / alpha) }
            } else if let positive, z <= positiveLimit {
                let y = log(z) / alpha
                return positive.value(y) * exp(exp(y))
            }
            return MittagLeffler.evaluate(z, alpha: alpha, beta: beta)
        }

        /// Where the asymptotic expansion with 40 terms is exact to rounding on the
        /// negative axis (`0 < α < 1` only), and its coefficients; `(∞, [])` if not below `limit`.
        static func asymptoticRegion(alpha: Double, beta: Double, limit: Double) -> (Double, [Double]) {
            guard alpha < 1 else { return (.infinity, []) }
            let terms = 40
            let coefficients = (1...terms).map { MittagLeffler.reciprocalGamma(beta - alpha * Double($0)) }
            // |1/Γ(x)| ≤ Γ(1-x)/π for x < 0 bounds the k-th term's size by e^(b_k)·|z|^(-k),
            // whatever 1/Γ does near its zeros.
            func logBound(_ k: Int) -> Double {
                let x = beta - alpha * Double(k)
                return x < 0 ? lgamma(1 - x) - log(Double.pi) : 0
            }
            var magnitude = 2.0
            while magnitude <= limit {
                let z = -magnitude
                var sum = 0.0
                for c in coefficients.reversed() { sum = sum * (1 / z) + c }
                sum = abs(sum / z)
                let logSize = log(magnitude)
                // Terms still falling at the last one kept, and the first omitted one below rounding.
                let falling = logBound(terms + 1) - logBound(terms) < logSize
                if falling, logBound(terms + 1) - Double(terms + 1) * logSize <= log(1e-17 * sum) {
                    return (magnitude, coefficients)
                }
                magnitude *= 1.25
            }
            return (.infinity, [])
        }
    }
}

/// A function on `[lower, upper]` as equal-width pieces, each a Chebyshev expansion.
struct ChebyshevPieces: Sendable {
    let lower: Double
    let width: Double
    let pieceCount: Int
    /// Coefficients per piece.
    static let order = 24
    /// `pieceCount × order` Chebyshev coefficients.
    let coefficients: [Double]

    /// Samples `function` at Chebyshev points, doubling the piece count until every piece's
    /// last two coefficients are below `tolerance · max(|f|, 1e-3)` on that piece; nil when
    /// 4096 pieces do not reach it (the caller then falls back to the direct method).
    init?(lower: Double, upper: Double, tolerance: Double, function: (Double) -> Double) {
        guard upper > lower, upper.isFinite else { return nil }
        let n = Self.order
        let nodes = (0..<n).map { cos(Double.pi * (Double($0) + 0.5) / Double(n)) }
        var pieces = 1
        while pieces <= 4096 {
            let width = (upper - lower) / Double(pieces)
            var coefficients: [Double] = []
            coefficients.reserveCapacity(pieces * n)
            var converged = true
            for p in 0..<pieces where converged {
                let middle = lower + (Double(p) + 0.5) * width
                let values = nodes.map { function(middle + 0.5 * width * $0) }
                var scale = 1e-3
                for v in values { scale = max(scale, abs(v)) }
                guard scale.isFinite else { return nil }
                for k in 0..<n {
                    var sum = 0.0
                    for j in 0..<n { sum += values[j] * cos(Double.pi * Double(k) * (Double(j) + 0.5) / Double(n)) }
                    coefficients.append((k == 0 ? 1.0 : 2.0) * sum / Double(n))
                }
                let tail = abs(coefficients[coefficients.count - 1]) + abs(coefficients[coefficients.count - 2])
                converged = tail <= tolerance * scale
            }
            if converged {
                self.lower = lower
                self.width = width
                pieceCount = pieces
                self.coefficients = coefficients
                return
            }
            pieces *= 2
        }
        return nil
    }

    /// The expansion at `x` (clamped to the covered interval), by Clenshaw's recurrence.
    func value(_ x: Double) -> Double {
        let position = (x - lower) / width
        let piece = min(max(Int(position), 0), pieceCount - 1)
        let t = 2 * (position - Double(piece)) - 1
        let base = piece * Self.order
        var b1 = 0.0, b2 = 0.0
        for k in stride(from: Self.order - 1, through: 1, by: -1) {
            (b1, b2) = (2 * t * b1 - b2 + coefficients[base + k], b1)
        }
        return t * b1 - b2 + coefficients[base]
    }
}
