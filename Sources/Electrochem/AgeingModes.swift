import BenchCore
/// Ageing-mode decomposition of a sweep history by modified non-negative
/// matrix factorisation: `V ≈ W Hᵀ` with `V` (sweeps × spectral columns) the
/// history reduced by a reference sweep, `W ≥ 0` the activations of each mode
/// over time and `H` its signed spectral signature. Updates are hierarchical
/// alternating least squares (HALS), one rank-1 component at a time, with an
/// optional one-sided orthogonality projection of the activations.
public struct AgeingModes: Sendable, Hashable {
    /// Activations, one row per sweep, one column per mode (each column of unit length).
    public let activations: [[Double]]
    /// Signatures, one row per spectral column, one column per mode.
    public let signatures: [[Double]]
    /// ‖V − W Hᵀ‖_F / ‖V‖_F.
    public let relativeResidual: Double
    public let iterations: Int
    public var rank: Int { signatures.first?.count ?? 0 }
}

public struct AgeingModeOptions: Sendable, Hashable {
    public var rank: Int
    /// Push activations towards disjoint support (off by default: ageing processes overlap in time).
    public var orthogonal = false
    public var maximumIterations = 500
    /// HALS iterations after the modes are unmixed (see `HALS.unmix`).
    public var polishIterations = 50
    /// Stop when the relative residual improves by less than this per iteration (checked over 10).
    public var tolerance = 1e-8
    /// Independent random starts; the best fit is kept.
    public var starts = 4
    /// Seed of the starts, so results are reproducible.
    public var seed: UInt64 = 1

    public init(rank: Int, orthogonal: Bool = false) {
        self.rank = rank
        self.orthogonal = orthogonal
    }
}

public enum AgeingModeError: Error, Sendable, Hashable, CustomStringConvertible {
    case emptyMatrix
    case raggedRow(index: Int, count: Int, expected: Int)
    case nonFinite(row: Int, column: Int)
    case badRank(Int, maximum: Int)

    public var description: String {
        switch self {
        case .emptyMatrix: "no sweeps or no spectral columns to factor"
        case .raggedRow(let i, let n, let e): "row \(i) has \(n) columns, expected \(e)"
        case .nonFinite(let r, let c): "value at row \(r), column \(c) is not finite"
        case .badRank(let k, let m): "rank \(k) is outside 1...\(m)"
        }
    }
}

extension AgeingModes {
    /// Factors `matrix` (rows: sweeps over time; columns: spectral features) at `options.rank`.
    public static func factor(_ matrix: [[Double]], options: AgeingModeOptions) throws(AgeingModeError) -> AgeingModes {
        let v = try DenseMatrix(validating: matrix)
        guard options.rank >= 1, options.rank <= min(v.rows, v.columns) else {
            throw .badRank(options.rank, maximum: min(v.rows, v.columns))
        }
        let fit = HALS.best(v, options: options)
        return AgeingModes(activations: fit.w.rowArrays, signatures: fit.h.rowArrays,
                           relativeResidual: fit.residual, iterations: fit.iterations)
    }

    /// Bi-cross-validation error of each rank in `ranks` (Owen & Perry 2009): the rows and the
    /// columns are split into `folds` groups each; every block A is held out in turn, the rest
    /// `[[A, B], [C, D]]` gives D ≈ W_D H_Dᵀ, B gives W_A ≥ 0 with H_D fixed, C gives H_A with
    /// W_D fixed, and A is predicted as W_A H_Aᵀ. Returns the mean squared prediction error per rank.
    public static func crossValidationErrors(_ matrix: [[Double]], ranks: ClosedRange<Int>, folds: Int = 2,
                                             options: AgeingModeOptions = AgeingModeOptions(rank: 1)) throws(AgeingModeError)
        -> [(rank: Int, error: Double)] {
        let v = try DenseMatrix(validating: matrix)
        let folds = max(2, folds)
        let largest = min(v.rows, v.columns) * (folds - 1) / folds
        guard ranks.lowerBound >= 1, ranks.upperBound <= largest else { throw .badRank(ranks.upperBound, maximum: largest) }
        var generator = SplitMix64(seed: options.seed ^ 0xB1C5)
        let rowGroup = generator.groups(count: v.rows, into: folds)
        let columnGroup = generator.groups(count: v.columns, into: folds)
        return ranks.map { rank in
            var options = options
            options.rank = rank
            var squared = 0.0, count = 0
            for rg in 0..<folds {
                for cg in 0..<folds {
                    let heldRows = (0..<v.rows).filter { rowGroup[$0] == rg }, keptRows = (0..<v.rows).filter { rowGroup[$0] != rg }
                    let heldColumns = (0..<v.columns).filter { columnGroup[$0] == cg }
                    let keptColumns = (0..<v.columns).filter { columnGroup[$0] != cg }
                    let d = v.sub(keptRows, keptColumns)
                    let fit = HALS.best(d, options: options)
                    let wA = HALS.activations(for: v.sub(heldRows, keptColumns), signatures: fit.h, orthogonal: false)
                    let hA = HALS.signatures(for: v.sub(keptRows, heldColumns), activations: fit.w)
                    let a = v.sub(heldRows, heldColumns)
                    for (i, j) in a.indices {
                        var predicted = 0.0
                        for k in 0..<rank { predicted += wA[i, k] * hA[j, k] }
                        let e = a[i, j] - predicted
                        squared += e * e
                        count += 1
                    }
                }
            }
            return (rank, squared / Double(max(count, 1)))
        }
    }

    /// The rank in `ranks` with the smallest bi-cross-validation error.
    public static func chooseRank(_ matrix: [[Double]], ranks: ClosedRange<Int>, folds: Int = 2,
                                  options: AgeingModeOptions = AgeingModeOptions(rank: 1)) throws(AgeingModeError) -> Int {
        let errors = try crossValidationErrors(matrix, ranks: ranks, folds: folds, options: options)
        return errors.min { $0.error < $1.error }?.rank ?? ranks.lowerBound
    }
}

/// Row-major dense matrix for the factorisation.
struct DenseMatrix: Sendable {
    let rows: Int, columns: Int
    var data: [Double]

    init(rows: Int, columns: Int, repeating value: Double = 0) {
        self.rows = rows
        self.columns = columns
        data = [Double](repeating: value, count: rows * columns)
    }

    init(validating matrix: [[Double]]) throws(AgeingModeError) {
        guard let width = matrix.first?.count, width > 0 else { throw .emptyMatrix }
        self.init(rows: matrix.count, columns: width)
        for (i, row) in matrix.enumerated() {
            guard row.count == width else { throw .raggedRow(index: i, count: row.count, expected: width) }
            for (j, x) in row.enumerated() {
                guard x.isFinite else { throw .nonFinite(row: i, column: j) }
                data[i * width + j] = x
            }
        }
    }

    subscript(i: Int, j: Int) -> Double {
        get { data[i * columns + j] }
        set { data[i * columns + j] = newValue }
    }

    var indices: [(Int, Int)] { (0..<rows).flatMap { i in (0..<columns).map { (i, $0) } } }
    var rowArrays: [[Double]] { (0..<rows).map { Array(data[($0 * columns)..<(($0 + 1) * columns)]) } }
    var squaredNorm: Double { data.reduce(0) { $0 + $1 * $1 } }

    func sub(_ rowIndices: [Int], _ columnIndices: [Int]) -> DenseMatrix {
        var out = DenseMatrix(rows: rowIndices.count, columns: columnIndices.count)
        for (a, i) in rowIndices.enumerated() { for (b, j) in columnIndices.enumerated() { out[a, b] = self[i, j] } }
        return out
    }

    var transposed: DenseMatrix {
        var out = DenseMatrix(rows: columns, columns: rows)
        for i in 0..<rows { for j in 0..<columns { out[j, i] = self[i, j] } }
        return out
    }

    /// `selfᵀ · other` (both with the same number of rows).
    func transposeTimes(_ other: DenseMatrix) -> DenseMatrix { transposed.times(other) }

    /// `self · other`.
    func times(_ other: DenseMatrix) -> DenseMatrix {
        var out = DenseMatrix(rows: rows, columns: other.columns)
        for i in 0..<rows {
            for r in 0..<columns {
                let x = self[i, r]
                if x == 0 { continue }
                for j in 0..<other.columns { out[i, j] += x * other[r, j] }
            }
        }
        return out
    }
}

extension SplitMix64 {
    /// A balanced random assignment of `count` items to `groups` groups.
    mutating func groups(count: Int, into groups: Int) -> [Int] {
        var labels = (0..<count).map { $0 % groups }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            labels.swapAt(i, j)
        }
        return labels
    }
}

/// The HALS updates.
enum HALS {
    struct Fit {
        var w: DenseMatrix, h: DenseMatrix, residual: Double, iterations: Int
    }

    /// The best of `options.starts` random starts.
    static func best(_ v: DenseMatrix, options: AgeingModeOptions) -> Fit {
        var generator = SplitMix64(seed: options.seed)
        var best = run(v, options: options, generator: &generator)
        for _ in 1..<max(options.starts, 1) {
            let fit = run(v, options: options, generator: &generator)
            if fit.residual < best.residual { best = fit }
        }
        return best
    }

    static func run(_ v: DenseMatrix, options: AgeingModeOptions, generator: inout SplitMix64) -> Fit {
        let k = options.rank
        var w = DenseMatrix(rows: v.rows, columns: k)
        for index in w.data.indices { w.data[index] = generator.nextUnit() }
        normaliseColumns(&w)
        var h = signatures(for: v, activations: w)
        let norm = max(v.squaredNorm, .leastNormalMagnitude)
        var residual = 1.0
        var iterations = 0
        while iterations < options.maximumIterations {
            iterations += 1
            updateSignatures(v, w: w, h: &h)
            updateActivations(v, h: h, w: &w, orthogonal: options.orthogonal)
            // Unit activations: the scale lives in the signatures.
            rescale(&w, &h)
            // The residual costs as much as an update: check it every 10 iterations.
            guard iterations % 10 == 0 || iterations == options.maximumIterations else { continue }
            let next = (squaredResidual(v, w: w, h: h) / norm).squareRoot()
            let improvement = residual - next
            residual = next
            if improvement >= 0 && improvement < 10 * options.tolerance { break }
        }
        if unmix(&w, &h) {
            for _ in 0..<options.polishIterations {
                updateSignatures(v, w: w, h: &h)
                updateActivations(v, h: h, w: &w, orthogonal: options.orthogonal)
                rescale(&w, &h)
            }
            residual = (squaredResidual(v, w: w, h: h) / norm).squareRoot()
        }
        order(&w, &h)
        return Fit(w: w, h: h, residual: residual, iterations: iterations)
    }

    /// With a signed H, any non-negative mixing `W M` (M ≥ 0) of the activations fits equally
    /// well. The canonical choice takes, by the successive projection algorithm, the k sweeps
    /// whose activation rows are most extreme (where each mode is purest) as the pure modes:
    /// `W ← [W M⁻¹]₊`, `H ← H Mᵀ`, M the chosen rows normalised to unit sum. When each mode acts
    /// alone at some time, this recovers the true factors. Returns false if M is singular.
    static func unmix(_ w: inout DenseMatrix, _ h: inout DenseMatrix) -> Bool {
        let k = w.columns
        guard k > 1 else { return false }
        var rows: [[Double]] = []
        for r in 0..<w.rows {
            let sum = (0..<k).reduce(0) { $0 + w[r, $1] }
            if sum > 0 { rows.append((0..<k).map { w[r, $0] / sum }) }
        }
        guard rows.count >= k else { return false }
        var residual = rows
        var picked: [[Double]] = []
        for _ in 0..<k {
            let lengths = residual.map { $0.reduce(0) { $0 + $1 * $1 } }
            guard let best = lengths.indices.max(by: { lengths[$0] < lengths[$1] }), lengths[best] > 1e-20 else { return false }
            picked.append(rows[best])
            let p = residual[best].map { $0 / lengths[best].squareRoot() }
            for i in residual.indices {
                let dot = zip(residual[i], p).reduce(0) { $0 + $1.0 * $1.1 }
                for j in 0..<k { residual[i][j] -= dot * p[j] }
            }
        }
        // Row r of the new W solves Mᵀ x = w_r, through the normal equations (M Mᵀ) x = M w_r.
        var gram = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in 0..<k { gram[i * k + j] = zip(picked[i], picked[j]).reduce(0) { $0 + $1.0 * $1.1 } } }
        var unmixed = w
        for r in 0..<w.rows {
            var factor = gram
            var x = (0..<k).map { i in (0..<k).reduce(0) { $0 + picked[i][$1] * w[r, $1] } }
            guard LinearAlgebra.choleskySolve(&factor, &x, n: k) else { return false }
            for j in 0..<k { unmixed[r, j] = max(x[j], 0) }
        }
        var mixed = h
        for r in 0..<h.rows {
            for i in 0..<k { mixed[r, i] = (0..<k).reduce(0) { $0 + h[r, $1] * picked[i][$1] } }
        }
        w = unmixed
        h = mixed
        rescale(&w, &h)
        return true
    }

    /// `h_j ← h_j + ((VᵀW)_j − H (WᵀW)_j) / (WᵀW)_jj`, unconstrained (signed).
    static func updateSignatures(_ v: DenseMatrix, w: DenseMatrix, h: inout DenseMatrix) {
        let a = v.transposeTimes(w), b = w.transposeTimes(w)
        for j in 0..<w.columns where b[j, j] > 0 {
            for r in 0..<h.rows {
                var hb = 0.0
                for l in 0..<w.columns { hb += h[r, l] * b[l, j] }
                h[r, j] += (a[r, j] - hb) / b[j, j]
            }
        }
    }

    /// `w_j ← [w_j + ((VH)_j − W (HᵀH)_j) / (HᵀH)_jj]₊`, optionally first projected off the sum of
    /// the other activations (one-sided orthogonality).
    static func updateActivations(_ v: DenseMatrix, h: DenseMatrix, w: inout DenseMatrix, orthogonal: Bool) {
        let c = v.times(h), d = h.transposeTimes(h)
        var u = [Double](repeating: 0, count: w.rows)
        for j in 0..<w.columns where d[j, j] > 0 {
            for r in 0..<w.rows {
                var wd = 0.0
                for l in 0..<w.columns { wd += w[r, l] * d[l, j] }
                u[r] = w[r, j] + (c[r, j] - wd) / d[j, j]
            }
            if orthogonal && w.columns > 1 {
                var su = 0.0, ss = 0.0
                for r in 0..<w.rows {
                    var s = 0.0
                    for l in 0..<w.columns where l != j { s += w[r, l] }
                    su += s * u[r]
                    ss += s * s
                }
                if ss > 0 {
                    for r in 0..<w.rows {
                        var s = 0.0
                        for l in 0..<w.columns where l != j { s += w[r, l] }
                        u[r] -= su / ss * s
                    }
                }
            }
            // A component that died restarts from a small constant rather than staying zero.
            let alive = u.contains { $0 > 0 }
            for r in 0..<w.rows { w[r, j] = alive ? max(u[r], 0) : 1e-6 }
        }
    }

    /// Least-squares signatures for fixed activations: `H = Vᵀ W (WᵀW)⁻¹`.
    static func signatures(for v: DenseMatrix, activations w: DenseMatrix) -> DenseMatrix {
        let k = w.columns
        var gram = w.transposeTimes(w)
        // A tiny ridge keeps the solve defined when two activations coincide.
        let trace = (0..<k).reduce(0) { $0 + gram[$1, $1] }
        for j in 0..<k { gram[j, j] += 1e-12 * max(trace, 1e-300) }
        let vw = v.transposeTimes(w)
        var h = DenseMatrix(rows: v.columns, columns: k)
        for r in 0..<v.columns {
            var factor = gram.data
            var b = (0..<k).map { vw[r, $0] }
            guard LinearAlgebra.choleskySolve(&factor, &b, n: k) else { return h }
            for j in 0..<k { h[r, j] = b[j] }
        }
        return h
    }

    /// Non-negative activations for fixed signatures, by HALS sweeps on W alone.
    static func activations(for v: DenseMatrix, signatures h: DenseMatrix, orthogonal: Bool, sweeps: Int = 100) -> DenseMatrix {
        var w = DenseMatrix(rows: v.rows, columns: h.columns, repeating: 0)
        for _ in 0..<sweeps { updateActivations(v, h: h, w: &w, orthogonal: orthogonal) }
        return w
    }

    static func squaredResidual(_ v: DenseMatrix, w: DenseMatrix, h: DenseMatrix) -> Double {
        var total = 0.0
        for i in 0..<v.rows {
            for j in 0..<v.columns {
                var x = v[i, j]
                for l in 0..<w.columns { x -= w[i, l] * h[j, l] }
                total += x * x
            }
        }
        return total
    }

    static func normaliseColumns(_ w: inout DenseMatrix) {
        for j in 0..<w.columns {
            let norm = (0..<w.rows).reduce(0) { $0 + w[$1, j] * w[$1, j] }.squareRoot()
            if norm > 0 { for r in 0..<w.rows { w[r, j] /= norm } }
        }
    }

    /// Moves each activation's length into its signature, leaving the product unchanged.
    static func rescale(_ w: inout DenseMatrix, _ h: inout DenseMatrix) {
        for j in 0..<w.columns {
            let norm = (0..<w.rows).reduce(0) { $0 + w[$1, j] * w[$1, j] }.squareRoot()
            guard norm > 0 else { continue }
            for r in 0..<w.rows { w[r, j] /= norm }
            for r in 0..<h.rows { h[r, j] *= norm }
        }
    }

    /// Modes in order of decreasing signature length (their share of the data), for stable output.
    static func order(_ w: inout DenseMatrix, _ h: inout DenseMatrix) {
        let lengths = (0..<h.columns).map { j in (0..<h.rows).reduce(0) { $0 + h[$1, j] * h[$1, j] } }
        let permutation = lengths.indices.sorted { lengths[$0] > lengths[$1] }
        let (w0, h0) = (w, h)
        for (to, from) in permutation.enumerated() {
            for r in 0..<w.rows { w[r, to] = w0[r, from] }
            for r in 0..<h.rows { h[r, to] = h0[r, from] }
        }
    }
}
