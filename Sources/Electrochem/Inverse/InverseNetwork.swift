import BenchCore
/// The network of the inverse model: fully convolutional over frequency, so any number of points.
///
/// Per point input `[w̃, Re Z̃, Im Z̃, mask, switches…]` (the circuit variant's switches, the same at
/// every point) → kernel-1 convolution to `width0` channels →
/// residual block (kernel `kernel`, `width0` channels) → residual block to `width1` channels
/// (kernel-1 projection on the skip path) → masked attention pooling
/// `Σ m_i e^{u_i} f_i / Σ m_i e^{u_i}` → dense layer → linear head with `outputs` deviations.
///
/// Every activation is multiplied by the mask, so padded points (mask 0) at either end act as the
/// convolutions' zero padding and never change a prediction. All weights live in one flat vector
/// (the order of `Layout`), which serialisation and Adam treat alike. Forward and backward passes
/// are plain loops over one contiguous buffer held in a reusable `Workspace`; a convolution's
/// input is stored with `kernel/2` zero rows at each end, so every output point is one dot product
/// of a weight row with `kernel × width` contiguous activations.
public struct InverseNetwork: Sendable, Hashable {
    /// Channels per point: `w̃, Re Z̃, Im Z̃, mask` and the variant's switches.
    public static let inputs = 4 + CircuitVariant.switchCount

    public struct Shape: Sendable, Hashable {
        public var width0 = 16
        public var width1 = 32
        public var kernel = 7
        public var hidden = 64
        public var outputs = LiIonFamily.parameterCount
        public init() {}
    }

    /// Offsets of each weight array in the flat vector.
    struct Layout: Hashable {
        let inW, inB, c1W, c1B, c2W, c2B, proj, attW, attB, d1W, d1B, d2W, d2B, count: Int
        init(_ s: Shape) {
            var n = 0
            func take(_ size: Int) -> Int { defer { n += size }; return n }
            inW = take(s.width0 * InverseNetwork.inputs); inB = take(s.width0)
            c1W = take(s.width0 * s.kernel * s.width0); c1B = take(s.width0)
            c2W = take(s.width1 * s.kernel * s.width0); c2B = take(s.width1)
            proj = take(s.width1 * s.width0)
            attW = take(s.width1); attB = take(1)
            d1W = take(s.hidden * s.width1); d1B = take(s.hidden)
            d2W = take(s.outputs * s.hidden); d2B = take(s.outputs)
            count = n
        }
    }

    public let shape: Shape
    let layout: Layout
    public var weights: [Double]

    public static func parameterCount(_ shape: Shape) -> Int { Layout(shape).count }

    /// Weights from a flat vector, e.g. a model file.
    public init(shape: Shape, weights: [Double]) {
        precondition(weights.count == Layout(shape).count, "weight count does not match the shape")
        self.shape = shape
        self.layout = Layout(shape)
        self.weights = weights
    }

    /// He-initialised weights from a seed; the output layer starts at zero so the first
    /// prediction is the prior mean.
    public init(shape: Shape = Shape(), seed: UInt64) {
        let layout = Layout(shape)
        var random = SplitMix64(seed: seed)
        var w = [Double](repeating: 0, count: layout.count)
        func fill(_ offset: Int, _ count: Int, fanIn: Int, gain: Double = 1) {
            let bound = gain * (6 / Double(fanIn)).squareRoot()
            for i in offset..<(offset + count) { w[i] = bound * (2 * random.nextUnit() - 1) }
        }
        fill(layout.inW, shape.width0 * Self.inputs, fanIn: Self.inputs)
        // Residual branches start small so the skip path dominates early training.
        fill(layout.c1W, shape.width0 * shape.kernel * shape.width0, fanIn: shape.kernel * shape.width0, gain: 0.3)
        fill(layout.c2W, shape.width1 * shape.kernel * shape.width0, fanIn: shape.kernel * shape.width0, gain: 0.3)
        fill(layout.proj, shape.width1 * shape.width0, fanIn: shape.width0)
        fill(layout.d1W, shape.hidden * shape.width1, fanIn: shape.width1)
        self.init(shape: shape, weights: w)
    }

    /// Activations of one spectrum, kept for the backward pass, in one buffer that grows to the
    /// longest spectrum seen (one workspace per thread).
    public struct Workspace: Sendable {
        var storage: [Double] = []
        var regions: Regions?

        public init() {}

        /// Offsets of each activation array in `storage`, for up to `capacity` points.
        struct Regions: Sendable {
            let capacity: Int, shape: Shape
            let h0, a0, h1, a1, h2, f, attention, dh0, dh1, da, dh2, pooled, hidden, output, dPooled, dHidden, count: Int
            init(capacity n: Int, shape s: Shape) {
                capacity = n; shape = s
                var k = 0
                func take(_ size: Int) -> Int { defer { k += size }; return k }
                let narrow = n * s.width0, padded = (n + 2 * (s.kernel / 2)) * s.width0, wide = n * s.width1
                h0 = take(narrow); a0 = take(padded); h1 = take(narrow); a1 = take(padded)
                h2 = take(wide); f = take(wide); attention = take(n)
                dh0 = take(narrow); dh1 = take(narrow); da = take(padded); dh2 = take(wide)
                pooled = take(s.width1); hidden = take(s.hidden); output = take(s.outputs)
                dPooled = take(s.width1); dHidden = take(s.hidden)
                count = k
            }
        }

        mutating func reserve(points n: Int, shape s: Shape) -> Regions {
            if let regions, regions.capacity >= n, regions.shape == s { return regions }
            let grown = Regions(capacity: max(n, regions?.capacity ?? 0), shape: s)
            storage = Array(repeating: 0, count: grown.count)
            regions = grown
            return grown
        }

        /// The network output of the last forward pass.
        public var lastOutput: [Double] {
            guard let r = regions else { return [] }
            return Array(storage[r.output..<(r.output + r.shape.outputs)])
        }
    }

    /// `Σ a[k] b[k]` over `count` contiguous values, in two SIMD accumulators.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double {
        var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
        var k = 0
        while k + 8 <= count {
            s0 += UnsafeRawPointer(a + k).loadUnaligned(as: SIMD4<Double>.self) * UnsafeRawPointer(b + k).loadUnaligned(as: SIMD4<Double>.self)
            s1 += UnsafeRawPointer(a + k + 4).loadUnaligned(as: SIMD4<Double>.self) * UnsafeRawPointer(b + k + 4).loadUnaligned(as: SIMD4<Double>.self)
            k += 8
        }
        var sum = (s0 + s1).sum()
        while k < count { sum += a[k] * b[k]; k += 1 }
        return sum
    }

    /// `y[k] += a · x[k]` over `count` contiguous values, four at a time; each element sees the same
    /// operations in the same order as the scalar loop, so results are bit-identical. (Written out because
    /// the compiler cannot vectorise the fused scalar loop: its pointers might alias.)
    @inline(__always)
    static func axpy(_ a: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ count: Int) {
        let splat = SIMD4<Double>(repeating: a)
        var k = 0
        while k + 4 <= count {
            let target = UnsafeMutableRawPointer(y + k)
            target.storeBytes(of: target.loadUnaligned(as: SIMD4<Double>.self)
                              + splat * UnsafeRawPointer(x + k).loadUnaligned(as: SIMD4<Double>.self), as: SIMD4<Double>.self)
            k += 4
        }
        while k < count { y[k] += a * x[k]; k += 1 }
    }

    /// Forward pass over `n` points of `input` (`n × inputs`, point-major); the outputs (deviations from
    /// the prior mean) are left in the workspace (`lastOutput`).
    public func forward(_ input: UnsafeBufferPointer<Double>, points n: Int, workspace ws: inout Workspace) {
        precondition(input.count >= n * Self.inputs && n > 0)
        let r = ws.reserve(points: n, shape: shape)
        let s = shape, l = layout
        weights.withUnsafeBufferPointer { wb in
        ws.storage.withUnsafeMutableBufferPointer { sb in
            guard let w = wb.baseAddress, let m = sb.baseAddress, let x = input.baseAddress else { return }
            // Input layer: kernel-1 convolution.
            for i in 0..<n {
                let point = x + i * Self.inputs, h = m + r.h0 + i * s.width0
                for c in 0..<s.width0 { h[c] = point[3] * (w[l.inB + c] + Self.dot(w + l.inW + c * Self.inputs, point, Self.inputs)) }
            }
            Self.residualBlock(w, l.c1W, l.c1B, projection: nil, input: m + r.h0, relu: m + r.a0, output: m + r.h1,
                               points: n, inWidth: s.width0, outWidth: s.width0, kernel: s.kernel, mask: x)
            Self.residualBlock(w, l.c2W, l.c2B, projection: l.proj, input: m + r.h1, relu: m + r.a1, output: m + r.h2,
                               points: n, inWidth: s.width0, outWidth: s.width1, kernel: s.kernel, mask: x)
            // Attention pooling over f = relu(h2).
            let f = m + r.f, attention = m + r.attention, pooled = m + r.pooled, hidden = m + r.hidden
            var largest = -Double.infinity
            for i in 0..<n {
                let fi = f + i * s.width1, hi = m + r.h2 + i * s.width1
                for c in 0..<s.width1 { fi[c] = max(hi[c], 0) }
                let u = w[l.attB] + Self.dot(w + l.attW, fi, s.width1)
                attention[i] = u
                if x[i * Self.inputs + 3] > 0 { largest = max(largest, u) }
            }
            var total = 0.0
            for i in 0..<n {
                let e = x[i * Self.inputs + 3] * Double.exp(min(attention[i] - largest, 0))
                attention[i] = e
                total += e
            }
            for c in 0..<s.width1 { pooled[c] = 0 }
            for i in 0..<n {
                let a = attention[i] / total, fi = f + i * s.width1
                attention[i] = a
                for c in 0..<s.width1 { pooled[c] += a * fi[c] }
            }
            // Dense head.
            for j in 0..<s.hidden { hidden[j] = max(w[l.d1B + j] + Self.dot(w + l.d1W + j * s.width1, pooled, s.width1), 0) }
            for o in 0..<s.outputs { m[r.output + o] = w[l.d2B + o] + Self.dot(w + l.d2W + o * s.hidden, hidden, s.hidden) }
        }}
    }

    /// `output = mask · (skip(input) + b + conv(relu(input)))`, skip = identity or a kernel-1 projection.
    /// `relu` has room for `points + kernel − 1` rows: the activations between `kernel/2` zero rows.
    private static func residualBlock(_ w: UnsafePointer<Double>, _ convW: Int, _ convB: Int, projection: Int?,
                                      input x: UnsafePointer<Double>, relu a: UnsafeMutablePointer<Double>,
                                      output y: UnsafeMutablePointer<Double>,
                                      points n: Int, inWidth ci: Int, outWidth co: Int, kernel: Int,
                                      mask: UnsafePointer<Double>) {
        let half = kernel / 2, span = kernel * ci
        for i in 0..<(n * ci) { a[half * ci + i] = max(x[i], 0) }
        // The leading zero rows are never written; the trailing ones may hold a longer spectrum's values.
        for i in ((n + half) * ci)..<((n + 2 * half) * ci) { a[i] = 0 }
        for i in 0..<n {
            let window = a + i * ci, xi = x + i * ci, yi = y + i * co
            for o in 0..<co {
                var sum = w[convB + o] + dot(w + convW + o * span, window, span)
                if let projection { sum += dot(w + projection + o * ci, xi, ci) } else { sum += xi[o] }
                yi[o] = mask[i * inputs + 3] * sum
            }
        }
    }

    /// Backward pass for the last `forward` on the same input: adds `∂L/∂weights` to `gradient`
    /// given `dOutput = ∂L/∂output`.
    public func backward(_ input: UnsafeBufferPointer<Double>, points n: Int, dOutput: [Double],
                         workspace ws: inout Workspace, gradient: inout [Double]) {
        guard let r = ws.regions, r.capacity >= n else { preconditionFailure("backward needs a forward pass first") }
        let s = shape, l = layout
        weights.withUnsafeBufferPointer { wb in
        gradient.withUnsafeMutableBufferPointer { gb in
        ws.storage.withUnsafeMutableBufferPointer { sb in
            guard let w = wb.baseAddress, let g = gb.baseAddress, let m = sb.baseAddress, let x = input.baseAddress else { return }
            let hidden = m + r.hidden, dHidden = m + r.dHidden, pooled = m + r.pooled, dPooled = m + r.dPooled
            // Dense head.
            for j in 0..<s.hidden { dHidden[j] = 0 }
            for o in 0..<s.outputs {
                let d = dOutput[o]
                g[l.d2B + o] += d
                for j in 0..<s.hidden {
                    g[l.d2W + o * s.hidden + j] += d * hidden[j]
                    dHidden[j] += d * w[l.d2W + o * s.hidden + j]
                }
            }
            for c in 0..<s.width1 { dPooled[c] = 0 }
            for j in 0..<s.hidden where hidden[j] > 0 {
                let d = dHidden[j]
                g[l.d1B + j] += d
                for c in 0..<s.width1 {
                    g[l.d1W + j * s.width1 + c] += d * pooled[c]
                    dPooled[c] += d * w[l.d1W + j * s.width1 + c]
                }
            }
            // Attention pooling: du_i = a_i (dg·f_i − dg·g).
            let dgg = Self.dot(dPooled, pooled, s.width1)
            for i in 0..<n {
                let a = m[r.attention + i], fi = m + r.f + i * s.width1
                let h2 = m + r.h2 + i * s.width1, dh2 = m + r.dh2 + i * s.width1
                let du = a * (Self.dot(dPooled, fi, s.width1) - dgg)
                g[l.attB] += du
                for c in 0..<s.width1 {
                    g[l.attW + c] += du * fi[c]
                    dh2[c] = h2[c] > 0 ? a * dPooled[c] + du * w[l.attW + c] : 0
                }
            }
            Self.residualBlockBackward(w, g, l.c2W, l.c2B, projection: l.proj, input: m + r.h1, relu: m + r.a1,
                                       dOutput: m + r.dh2, dInput: m + r.dh1, scratch: m + r.da,
                                       points: n, inWidth: s.width0, outWidth: s.width1, kernel: s.kernel, mask: x)
            Self.residualBlockBackward(w, g, l.c1W, l.c1B, projection: nil, input: m + r.h0, relu: m + r.a0,
                                       dOutput: m + r.dh1, dInput: m + r.dh0, scratch: m + r.da,
                                       points: n, inWidth: s.width0, outWidth: s.width0, kernel: s.kernel, mask: x)
            // Input layer.
            for i in 0..<n {
                let point = x + i * Self.inputs
                guard point[3] != 0 else { continue }
                for c in 0..<s.width0 {
                    let d = point[3] * m[r.dh0 + i * s.width0 + c]
                    g[l.inB + c] += d
                    for k in 0..<Self.inputs { g[l.inW + c * Self.inputs + k] += d * point[k] }
                }
            }
        }}}
    }

    /// `da` has the padded layout of `relu`.
    private static func residualBlockBackward(_ w: UnsafePointer<Double>, _ g: UnsafeMutablePointer<Double>,
                                              _ convW: Int, _ convB: Int, projection: Int?,
                                              input x: UnsafePointer<Double>, relu a: UnsafePointer<Double>,
                                              dOutput dy: UnsafePointer<Double>, dInput dx: UnsafeMutablePointer<Double>,
                                              scratch da: UnsafeMutablePointer<Double>,
                                              points n: Int, inWidth ci: Int, outWidth co: Int, kernel: Int,
                                              mask: UnsafePointer<Double>) {
        let half = kernel / 2, span = kernel * ci
        for i in 0..<(n * ci) { dx[i] = 0 }
        for i in 0..<((n + 2 * half) * ci) { da[i] = 0 }
        for i in 0..<n {
            let m = mask[i * inputs + 3]
            guard m != 0 else { continue }
            let window = a + i * ci, dWindow = da + i * ci
            for o in 0..<co {
                let d = m * dy[i * co + o]
                g[convB + o] += d
                if let projection {
                    for c in 0..<ci {
                        g[projection + o * ci + c] += d * x[i * ci + c]
                        dx[i * ci + c] += d * w[projection + o * ci + c]
                    }
                } else {
                    dx[i * ci + o] += d
                }
                let row = convW + o * span
                axpy(d, window, g + row, span)
                axpy(d, w + row, dWindow, span)
            }
        }
        for i in 0..<(n * ci) where x[i] > 0 { dx[i] += da[half * ci + i] }
    }
}
