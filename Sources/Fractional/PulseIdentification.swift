#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fits a `CellModel`'s impedance part (R0, R ∥ CPE branches, optional
/// Warburg) to a pulse recording by Levenberg–Marquardt on the time-domain
/// voltage, simulated with the exponential-sum kernels.
///
/// The recording is cut into segments at time gaps (rows missing for longer
/// than `gapThreshold`, as in HPPC logs that omit the moves between SOC
/// levels); each segment is simulated from rest with its SOC from the OCV
/// table at its first voltage. The fit uses windows around the current
/// pulses (from just before a pulse to `windowAfterPulse` after it), each as
/// voltage *changes* from the window's first row: an offset between the OCV
/// table and the rested voltage (hysteresis, capacity-scale error) or the slow
/// recovery from an unlogged earlier discharge then does not bias the impedance.
public struct PulseIdentification: Sendable {
    public struct Options: Sendable {
        public var branches = 2
        public var warburg = false
        /// Fix every α at 1 (an integer-order RC model). Otherwise α is fitted in [0.2, 0.95].
        public var integerOrder = false
        /// A time step longer than this (s) starts a new segment.
        public var gapThreshold = 600.0
        /// Time after the end of each pulse kept in the fit, s.
        public var windowAfterPulse = 120.0
        /// Segments starting below this SOC (from the OCV table) are left out of the fit:
        /// near empty the cell's polarisation grows far beyond what one linear model describes.
        public var minimumSOC = 0.1
        public var maximumIterations = 40
        public init() {}
    }

    public struct Result: Sendable {
        public var model: CellModel
        /// Root-mean-square voltage residual, V.
        public var rmsResidual: Double
        public var iterations: Int
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case tooFewRows
        case noExcitation
        public var description: String {
            switch self {
            case .tooFewRows: "recording has too few rows to identify a model"
            case .noExcitation: "recording has no current pulses from rest (above the minimum SOC) to identify a model from"
            }
        }
    }

    let times: [Double]
    let currents: [Double]
    let voltages: [Double]
    let segmentStarts: [Int]
    /// For each row, the first row of its fit window, or -1 outside any window.
    let windowStart: [Int]
    let ocv: OCVTable
    let capacityAh: Double
    let options: Options

    public init(times: [Double], currents: [Double], voltages: [Double], ocv: OCVTable, capacityAh: Double,
                options: Options = Options()) throws(Failure) {
        guard times.count >= 10, currents.count == times.count, voltages.count == times.count else { throw .tooFewRows }
        guard currents.contains(where: { abs($0) > 1e-6 }) else { throw .noExcitation }
        self.times = times
        self.currents = currents
        self.voltages = voltages
        self.ocv = ocv
        self.capacityAh = capacityAh
        self.options = options
        var starts = [0]
        for n in 1..<times.count where times[n] - times[n - 1] > options.gapThreshold { starts.append(n) }
        segmentStarts = starts
        var excluded = Array(repeating: false, count: times.count)
        for (s, start) in starts.enumerated() where ocv.soc(atVoltage: voltages[start]) < options.minimumSOC {
            let end = s + 1 < starts.count ? starts[s + 1] : times.count
            for n in start..<end { excluded[n] = true }
        }
        var windows = Array(repeating: -1, count: times.count)
        var n = 1
        while n < times.count {
            guard currents[n] != 0 && currents[n - 1] == 0 && times[n] - times[n - 1] <= options.gapThreshold else { n += 1; continue }
            let first = n - 1
            var last = n
            while last < times.count && currents[last] != 0 { last += 1 }
            let endTime = (last < times.count ? times[last] : times[times.count - 1]) + options.windowAfterPulse
            var m = first
            while m < times.count && times[m] <= endTime && (m == first || times[m] - times[m - 1] <= options.gapThreshold) {
                if !excluded[m] { windows[m] = first }
                m += 1
            }
            n = m
        }
        windowStart = windows
        guard windows.contains(where: { $0 >= 0 }) else { throw .noExcitation }
    }

    /// Runs the fit.
    public func fit() -> Result {
        var theta = initialGuess()
        var residual = residuals(theta)
        var cost = sumOfSquares(residual)
        var lambda = 1e-3
        var iterations = 0
        let count = theta.count
        for iteration in 1...options.maximumIterations {
            iterations = iteration
            // Forward-difference Jacobian in the transformed parameters.
            var jacobian: [[Double]] = []
            for p in 0..<count {
                var shifted = theta
                let delta = 1e-6 * max(1, abs(theta[p]))
                shifted[p] += delta
                let r = residuals(shifted)
                jacobian.append(zip(r, residual).map { ($0 - $1) / delta })
            }
            var normal = Array(repeating: Array(repeating: 0.0, count: count), count: count)
            var gradient = Array(repeating: 0.0, count: count)
            for i in 0..<count {
                for j in i..<count {
                    var sum = 0.0
                    for n in residual.indices { sum += jacobian[i][n] * jacobian[j][n] }
                    normal[i][j] = sum
                    normal[j][i] = sum
                }
                var g = 0.0
                for n in residual.indices { g += jacobian[i][n] * residual[n] }
                gradient[i] = g
            }
            var improved = false
            for _ in 0..<10 {
                var damped = normal
                for i in 0..<count { damped[i][i] += lambda * max(normal[i][i], 1e-12) }
                guard let step = Self.solve(damped, gradient.map { -$0 }) else { lambda *= 10; continue }
                let candidate = zip(theta, step).map { $0 + $1 }
                let r = residuals(candidate)
                let c = sumOfSquares(r)
                if c < cost {
                    let relative = (cost - c) / cost
                    theta = candidate
                    residual = r
                    cost = c
                    lambda = max(lambda / 3, 1e-9)
                    improved = true
                    if relative < 1e-7 { return result(theta, cost, iterations) }
                    break
                }
                lambda *= 10
            }
            if !improved { break }
        }
        return result(theta, cost, iterations)
    }

    private func result(_ theta: [Double], _ cost: Double, _ iterations: Int) -> Result {
        let used = max(1, windowStart.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) })
        return Result(model: model(theta), rmsResidual: (cost / Double(used)).squareRoot(), iterations: iterations)
    }

    // MARK: Parameters: [ln R0, (ln R, ln τ, logit α) per branch, ln σ]

    func initialGuess() -> [Double] {
        // R0 from the voltage jumps at the current steps.
        var jumps: [Double] = []
        for n in 1..<times.count where abs(currents[n] - currents[n - 1]) > 0.1 && times[n] - times[n - 1] < 1 {
            jumps.append((voltages[n] - voltages[n - 1]) / (currents[n] - currents[n - 1]))
        }
        jumps.sort()
        let r0 = jumps.isEmpty ? 0.02 : max(1e-4, jumps[jumps.count / 2])
        var theta = [log(r0)]
        for k in 0..<options.branches {
            let tau = pow(10, Double(k) * 1.5)  // 1 s, 30 s, 1000 s …
            theta += [log(r0 / 2), log(tau)]
            if !options.integerOrder { theta.append(Self.logit(0.8)) }
        }
        if options.warburg { theta.append(log(r0 * 0.01)) }
        return theta
    }

    func model(_ theta: [Double]) -> CellModel {
        var index = 1
        var elements: [RelaxationElement] = []
        for _ in 0..<options.branches {
            let r = exp(theta[index]), tau = exp(theta[index + 1])
            index += 2
            var alpha = 1.0
            if !options.integerOrder {
                alpha = 0.2 + 0.75 * Self.logistic(theta[index])
                index += 1
            }
            // Characteristic time τ: R·T = τ^α.
            elements.append(.parallelCPE(r: r, t: pow(tau, alpha) / r, alpha: alpha))
        }
        if options.warburg { elements.append(.warburg(sigma: exp(theta[index]))) }
        return CellModel(capacityAh: capacityAh, ocv: ocv, seriesResistance: exp(theta[0]), elements: elements)
    }

    func residuals(_ theta: [Double]) -> [Double] {
        let candidate = model(theta)
        var simulated = Array(repeating: 0.0, count: times.count)
        for (s, start) in segmentStarts.enumerated() {
            let end = s + 1 < segmentStarts.count ? segmentStarts[s + 1] : times.count
            let soc0 = ocv.soc(atVoltage: voltages[start])
            // 1e-7 quadrature tolerance: far below the measurement resolution, half the modes of 1e-13.
            var simulator = CellSimulator(model: candidate, initialSOC: soc0, minimumStep: 0.05,
                                          horizon: max(1, times[end - 1] - times[start]), tolerance: 1e-7)
            for n in start..<end {
                if n > start { simulator.advance(by: times[n] - times[n - 1], current: currents[n - 1]) }
                simulated[n] = simulator.voltage(current: currents[n])
            }
        }
        var out: [Double] = []
        for n in times.indices where windowStart[n] >= 0 {
            let w = windowStart[n]
            out.append((voltages[n] - voltages[w]) - (simulated[n] - simulated[w]))
        }
        return out
    }

    private func sumOfSquares(_ r: [Double]) -> Double { r.reduce(0) { $0 + $1 * $1 } }

    static func logit(_ p: Double) -> Double { log((p - 0.2) / 0.75 / (1 - (p - 0.2) / 0.75)) }
    static func logistic(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// Gaussian elimination with partial pivoting; nil when singular.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        var m = a
        var x = b
        let n = b.count
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(m[$0][col]) < abs(m[$1][col]) }), abs(m[pivot][col]) > 1e-300 else { return nil }
            m.swapAt(col, pivot)
            x.swapAt(col, pivot)
            for row in (col + 1)..<n {
                let f = m[row][col] / m[col][col]
                for k in col..<n { m[row][k] -= f * m[col][k] }
                x[row] -= f * x[col]
            }
        }
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[row]
            for k in (row + 1)..<n { sum -= m[row][k] * x[k] }
            x[row] = sum / m[row][row]
        }
        return x
    }
}
