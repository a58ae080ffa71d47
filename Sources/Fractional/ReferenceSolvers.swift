#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Full-memory solvers, kept as references for the fast exponential-sum path.
public enum FullMemory {
    /// Exact zero-order-hold response of `element` on any grid:
    /// `v(t_n) = Σ_{j<n} u_j [S(t_n - t_j) - S(t_n - t_{j+1})]`, O(N²).
    /// `currents[j]` is held on `[times[j], times[j+1])`.
    public static func convolve(_ element: RelaxationElement, times: [Double], currents: [Double]) -> [Double] {
        let stepResponse = element.tabulatedStepResponse()
        var out = Array(repeating: 0.0, count: times.count)
        for n in times.indices {
            var v = 0.0
            for j in 0..<n {
                v += currents[j] * (stepResponse(times[n] - times[j]) - stepResponse(times[n] - times[j + 1]))
            }
            out[n] = v
        }
        return out
    }

    /// The same exact response on a uniform grid of spacing `step`, by FFT convolution: O(N log N).
    public static func convolveUniform(_ element: RelaxationElement, step: Double, currents: [Double]) -> [Double] {
        let n = currents.count
        var kernel = Array(repeating: 0.0, count: n)
        let stepResponse = element.tabulatedStepResponse()
        var previous = 0.0
        for m in 1..<max(n, 1) {
            let s = stepResponse(Double(m) * step)
            kernel[m] = s - previous
            previous = s
        }
        // v_n = Σ_{j<n} u_j k_{n-j}
        return FFT.convolve(currents, kernel, count: n)
    }

    /// Grünwald–Letnikov solution of `D^α v = (R·u - v)/(R·T)` (an R ∥ CPE),
    /// v(0) = 0, on a uniform grid; `currents[n]` is the input at `t_n`.
    /// First-order accurate, O(N²) in time.
    public static func grunwaldLetnikov(r: Double, t: Double, alpha: Double, step: Double, currents: [Double]) -> [Double] {
        let w = grunwaldWeights(order: alpha, count: currents.count)
        let ha = pow(step, -alpha)
        let lambda = 1 / (r * t)
        var v = Array(repeating: 0.0, count: currents.count)
        for n in 1..<max(currents.count, 1) {
            var history = 0.0
            for k in 1...n { history += w[k] * v[n - k] }
            v[n] = (lambda * r * currents[n] - ha * history) / (ha + lambda)
        }
        return v
    }

    /// `w_0 = 1`, `w_j = (1 - (α+1)/j) w_{j-1}`.
    public static func grunwaldWeights(order: Double, count: Int) -> [Double] {
        var w = Array(repeating: 1.0, count: max(count, 1))
        for j in stride(from: 1, to: count, by: 1) { w[j] = (1 - (order + 1) / Double(j)) * w[j - 1] }
        return w
    }
}

/// Iterative radix-2 FFT, enough for convolutions in the reference solver.
enum FFT {
    /// Linear convolution of `a` and `b`, first `count` values.
    static func convolve(_ a: [Double], _ b: [Double], count: Int) -> [Double] {
        var size = 1
        while size < a.count + b.count { size <<= 1 }
        var ar = a + Array(repeating: 0, count: size - a.count), ai = Array(repeating: 0.0, count: size)
        var br = b + Array(repeating: 0, count: size - b.count), bi = ai
        transform(&ar, &ai, inverse: false)
        transform(&br, &bi, inverse: false)
        for k in 0..<size { (ar[k], ai[k]) = (ar[k] * br[k] - ai[k] * bi[k], ar[k] * bi[k] + ai[k] * br[k]) }
        transform(&ar, &ai, inverse: true)
        return (0..<count).map { ar[$0] / Double(size) }
    }

    static func transform(_ re: inout [Double], _ im: inout [Double], inverse: Bool) {
        let n = re.count
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j |= bit
            if i < j { re.swapAt(i, j); im.swapAt(i, j) }
        }
        // Twiddles computed directly (not by recurrence) to keep rounding at 1e-16.
        let sign = inverse ? 1.0 : -1.0
        let cosines = (0..<n / 2).map { cos(2 * Double.pi * Double($0) / Double(n)) }
        let sines = (0..<n / 2).map { sign * sin(2 * Double.pi * Double($0) / Double(n)) }
        var length = 2
        while length <= n {
            let half = length / 2
            let stride = n / length
            for start in Swift.stride(from: 0, to: n, by: length) {
                for k in 0..<half {
                    let wr = cosines[k * stride], wi = sines[k * stride]
                    let a = start + k, b = a + half
                    let tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr
                    re[b] = re[a] - tr; im[b] = im[a] - ti
                    re[a] += tr; im[a] += ti
                }
            }
            length <<= 1
        }
    }
}
