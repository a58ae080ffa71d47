/// Small dense linear algebra for the fitting and Lin-KK code (matrices of at most a few
/// hundred rows and tens of columns, stored row-major in flat arrays).
enum LinearAlgebra {
    /// Solves `A x = b` for symmetric positive definite `A` (n×n) by Cholesky, in place:
    /// `a` is overwritten by its factor and `b` by `x`. Returns false if `A` is not positive definite.
    static func choleskySolve(_ a: inout [Double], _ b: inout [Double], n: Int) -> Bool {
        guard choleskyFactor(&a, n: n) else { return false }
        solveFactored(a, &b, n: n)
        return true
    }

    /// Lower Cholesky factor in place (upper triangle left untouched).
    static func choleskyFactor(_ a: inout [Double], n: Int) -> Bool {
        for j in 0..<n {
            var d = a[j * n + j]
            for k in 0..<j { d -= a[j * n + k] * a[j * n + k] }
            guard d > 0, d.isFinite else { return false }
            let l = d.squareRoot()
            a[j * n + j] = l
            for i in (j + 1)..<n {
                var s = a[i * n + j]
                for k in 0..<j { s -= a[i * n + k] * a[j * n + k] }
                a[i * n + j] = s / l
            }
        }
        return true
    }

    /// Diagonal of the inverse of a symmetric positive definite matrix, or nil if singular.
    static func inverseDiagonal(_ matrix: [Double], n: Int) -> [Double]? {
        var factor = matrix
        guard choleskyFactor(&factor, n: n) else { return nil }
        var diagonal = [Double](repeating: 0, count: n)
        var column = [Double](repeating: 0, count: n)
        for j in 0..<n {
            for i in 0..<n { column[i] = i == j ? 1 : 0 }
            solveFactored(factor, &column, n: n)
            diagonal[j] = column[j]
        }
        return diagonal
    }

    private static func solveFactored(_ l: [Double], _ b: inout [Double], n: Int) {
        for i in 0..<n {
            var s = b[i]
            for k in 0..<i { s -= l[i * n + k] * b[k] }
            b[i] = s / l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = b[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * b[k] }
            b[i] = s / l[i * n + i]
        }
    }

    /// Least-squares solution of `A x ≈ b` (m×n, m ≥ n, full column rank) by Householder QR,
    /// which keeps the accuracy that normal equations would square away. Nil if rank-deficient.
    static func leastSquares(_ matrix: [Double], rows m: Int, columns n: Int, _ rhs: [Double]) -> [Double]? {
        var a = matrix
        var b = rhs
        var diagonal = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var norm = 0.0
            for i in j..<m { norm += a[i * n + j] * a[i * n + j] }
            norm = norm.squareRoot()
            guard norm > 0 else { return nil }
            let alpha = a[j * n + j] > 0 ? -norm : norm
            a[j * n + j] -= alpha
            var vnorm = 0.0
            for i in j..<m { vnorm += a[i * n + j] * a[i * n + j] }
            diagonal[j] = alpha
            guard vnorm > 0 else { continue }
            for c in (j + 1)..<n {
                var dot = 0.0
                for i in j..<m { dot += a[i * n + j] * a[i * n + c] }
                let f = 2 * dot / vnorm
                for i in j..<m { a[i * n + c] -= f * a[i * n + j] }
            }
            var dot = 0.0
            for i in j..<m { dot += a[i * n + j] * b[i] }
            let f = 2 * dot / vnorm
            for i in j..<m { b[i] -= f * a[i * n + j] }
        }
        let largest = diagonal.map(abs).max() ?? 0
        var x = [Double](repeating: 0, count: n)
        for j in stride(from: n - 1, through: 0, by: -1) {
            guard abs(diagonal[j]) > largest * 1e-15 else { return nil }
            var s = b[j]
            for c in (j + 1)..<n { s -= a[j * n + c] * x[c] }
            x[j] = s / diagonal[j]
        }
        return x
    }
}
