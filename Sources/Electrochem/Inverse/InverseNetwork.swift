import BenchCore
/// The network of the inverse model: fully convolutional over frequency, so any number of points.
///
/// Per point input `[w̃, Re Z̃, Im Z̃, mask]` → kernel-1 convolution to `width0` channels →
/// residual block (kernel `kernel`, `width0` channels) → residual block to `width1` channels
/// (kernel-1 projection on the skip path) → masked attention pooling
/// `Σ m_i e^{u_i} f_i / Σ m_i e^{u_i}` → dense layer → linear head with `outputs` deviations.
///
/// Every activation is multiplied by the mask, so padded points (mask 0) at either end act as the
/// convolutions' zero padding and never change a prediction. All weights live in one flat vector
/// (the order of `Layout`), which serialisation and Adam treat alike. Forward and backward passes
/// are plain loops over contiguous buffers held in a reusable `Workspace`.
public struct InverseNetwork: Sendable, Hashable {
    public static let inputs = 4

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

    /// Activations of one spectrum, kept for the backward pass; grows to the longest spectrum seen.
    public struct Workspace: Sendable {
        var capacity = 0
        var h0: [Double] = [], a0: [Double] = [], h1: [Double] = [], a1: [Double] = [], h2: [Double] = []
        var f: [Double] = [], attention: [Double] = []
        var dh0: [Double] = [], dh1: [Double] = [], dh2: [Double] = [], da: [Double] = []
        var pooled: [Double] = [], hidden: [Double] = [], output: [Double] = []
        var dPooled: [Double] = [], dHidden: [Double] = []

        public init() {}

        mutating func reserve(points n: Int, shape s: Shape) {
            if pooled.isEmpty {
                pooled = Array(repeating: 0, count: s.width1); dPooled = pooled
                hidden = Array(repeating: 0, count: s.hidden); dHidden = hidden
                output = Array(repeating: 0, count: s.outputs)
            }
            guard n > capacity else { return }
            capacity = n
            let narrow = [Double](repeating: 0, count: n * s.width0), wide = [Double](repeating: 0, count: n * s.width1)
            h0 = narrow; a0 = narrow; h1 = narrow; a1 = narrow; dh0 = narrow; dh1 = narrow; da = narrow
            h2 = wide; f = wide; dh2 = wide
            attention = Array(repeating: 0, count: n)
        }

        /// The network output of the last forward pass.
        public var lastOutput: [Double] { output }
    }

    /// Forward pass over `n` points of `input` (`n × 4`, point-major); the outputs (deviations from
    /// the prior mean) are left in `workspace.output`.
    public func forward(_ input: UnsafeBufferPointer<Double>, points n: Int, workspace ws: inout Workspace) {
        precondition(input.count >= n * Self.inputs && n > 0)
        ws.reserve(points: n, shape: shape)
        let s = shape, l = layout
        weights.withUnsafeBufferPointer { w in
            // Input layer: kernel-1 convolution.
            ws.h0.withUnsafeMutableBufferPointer { h0 in
                for i in 0..<n {
                    let base = i * Self.inputs
                    let m = input[base + 3]
                    for c in 0..<s.width0 {
                        var sum = w[l.inB + c]
                        for k in 0..<Self.inputs { sum += w[l.inW + c * Self.inputs + k] * input[base + k] }
                        h0[i * s.width0 + c] = m * sum
                    }
                }
            }
            Self.residualBlock(w, l.c1W, l.c1B, projection: nil, input: ws.h0, relu: &ws.a0, output: &ws.h1,
                               points: n, inWidth: s.width0, outWidth: s.width0, kernel: s.kernel, mask: input)
            Self.residualBlock(w, l.c2W, l.c2B, projection: l.proj, input: ws.h1, relu: &ws.a1, output: &ws.h2,
                               points: n, inWidth: s.width0, outWidth: s.width1, kernel: s.kernel, mask: input)
            // Attention pooling over f = relu(h2).
            var largest = -Double.infinity
            for i in 0..<n {
                var u = w[l.attB]
                for c in 0..<s.width1 {
                    let v = max(ws.h2[i * s.width1 + c], 0)
                    ws.f[i * s.width1 + c] = v
                    u += w[l.attW + c] * v
                }
                ws.attention[i] = u
                if input[i * Self.inputs + 3] > 0 { largest = max(largest, u) }
            }
            var total = 0.0
            for i in 0..<n {
                let e = input[i * Self.inputs + 3] * Double.exp(min(ws.attention[i] - largest, 0))
                ws.attention[i] = e
                total += e
            }
            for c in 0..<s.width1 { ws.pooled[c] = 0 }
            for i in 0..<n {
                let a = ws.attention[i] / total
                ws.attention[i] = a
                for c in 0..<s.width1 { ws.pooled[c] += a * ws.f[i * s.width1 + c] }
            }
            // Dense head.
            for j in 0..<s.hidden {
                var sum = w[l.d1B + j]
                for c in 0..<s.width1 { sum += w[l.d1W + j * s.width1 + c] * ws.pooled[c] }
                ws.hidden[j] = max(sum, 0)
            }
            for o in 0..<s.outputs {
                var sum = w[l.d2B + o]
                for j in 0..<s.hidden { sum += w[l.d2W + o * s.hidden + j] * ws.hidden[j] }
                ws.output[o] = sum
            }
        }
    }

    /// `output = mask · (skip(input) + b + conv(relu(input)))`, skip = identity or a kernel-1 projection.
    private static func residualBlock(_ w: UnsafeBufferPointer<Double>, _ convW: Int, _ convB: Int, projection: Int?,
                                      input x: [Double], relu a: inout [Double], output y: inout [Double],
                                      points n: Int, inWidth ci: Int, outWidth co: Int, kernel: Int,
                                      mask: UnsafeBufferPointer<Double>) {
        for i in 0..<(n * ci) { a[i] = max(x[i], 0) }
        let half = kernel / 2
        for i in 0..<n {
            let m = mask[i * inputs + 3]
            for o in 0..<co {
                var sum = w[convB + o]
                if let projection {
                    for c in 0..<ci { sum += w[projection + o * ci + c] * x[i * ci + c] }
                } else {
                    sum += x[i * ci + o]
                }
                for k in 0..<kernel {
                    let j = i + k - half
                    guard j >= 0, j < n else { continue }
                    let row = convW + (o * kernel + k) * ci
                    for c in 0..<ci { sum += w[row + c] * a[j * ci + c] }
                }
                y[i * co + o] = m * sum
            }
        }
    }

    /// Backward pass for the last `forward` on the same input: adds `∂L/∂weights` to `gradient`
    /// given `dOutput = ∂L/∂output`.
    public func backward(_ input: UnsafeBufferPointer<Double>, points n: Int, dOutput: [Double],
                         workspace ws: inout Workspace, gradient: inout [Double]) {
        let s = shape, l = layout
        weights.withUnsafeBufferPointer { w in
        gradient.withUnsafeMutableBufferPointer { g in
            // Dense head.
            for j in 0..<s.hidden { ws.dHidden[j] = 0 }
            for o in 0..<s.outputs {
                let d = dOutput[o]
                g[l.d2B + o] += d
                for j in 0..<s.hidden {
                    g[l.d2W + o * s.hidden + j] += d * ws.hidden[j]
                    ws.dHidden[j] += d * w[l.d2W + o * s.hidden + j]
                }
            }
            for c in 0..<s.width1 { ws.dPooled[c] = 0 }
            for j in 0..<s.hidden where ws.hidden[j] > 0 {
                let d = ws.dHidden[j]
                g[l.d1B + j] += d
                for c in 0..<s.width1 {
                    g[l.d1W + j * s.width1 + c] += d * ws.pooled[c]
                    ws.dPooled[c] += d * w[l.d1W + j * s.width1 + c]
                }
            }
            // Attention pooling: du_i = a_i (dg·f_i − dg·g).
            var dgg = 0.0
            for c in 0..<s.width1 { dgg += ws.dPooled[c] * ws.pooled[c] }
            for i in 0..<n {
                let a = ws.attention[i]
                var dgf = 0.0
                for c in 0..<s.width1 { dgf += ws.dPooled[c] * ws.f[i * s.width1 + c] }
                let du = a * (dgf - dgg)
                g[l.attB] += du
                for c in 0..<s.width1 {
                    let index = i * s.width1 + c
                    g[l.attW + c] += du * ws.f[index]
                    ws.dh2[index] = ws.h2[index] > 0 ? a * ws.dPooled[c] + du * w[l.attW + c] : 0
                }
            }
            Self.residualBlockBackward(w, g, l.c2W, l.c2B, projection: l.proj, input: ws.h1, relu: ws.a1,
                                       dOutput: ws.dh2, dInput: &ws.dh1, scratch: &ws.da,
                                       points: n, inWidth: s.width0, outWidth: s.width1, kernel: s.kernel, mask: input)
            Self.residualBlockBackward(w, g, l.c1W, l.c1B, projection: nil, input: ws.h0, relu: ws.a0,
                                       dOutput: ws.dh1, dInput: &ws.dh0, scratch: &ws.da,
                                       points: n, inWidth: s.width0, outWidth: s.width0, kernel: s.kernel, mask: input)
            // Input layer.
            for i in 0..<n {
                let m = input[i * Self.inputs + 3]
                guard m != 0 else { continue }
                for c in 0..<s.width0 {
                    let d = m * ws.dh0[i * s.width0 + c]
                    g[l.inB + c] += d
                    for k in 0..<Self.inputs { g[l.inW + c * Self.inputs + k] += d * input[i * Self.inputs + k] }
                }
            }
        }}
    }

    private static func residualBlockBackward(_ w: UnsafeBufferPointer<Double>, _ g: UnsafeMutableBufferPointer<Double>,
                                              _ convW: Int, _ convB: Int, projection: Int?,
                                              input x: [Double], relu a: [Double], dOutput dy: [Double],
                                              dInput dx: inout [Double], scratch da: inout [Double],
                                              points n: Int, inWidth ci: Int, outWidth co: Int, kernel: Int,
                                              mask: UnsafeBufferPointer<Double>) {
        for i in 0..<(n * ci) { dx[i] = 0; da[i] = 0 }
        let half = kernel / 2
        for i in 0..<n {
            let m = mask[i * inputs + 3]
            guard m != 0 else { continue }
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
                for k in 0..<kernel {
                    let j = i + k - half
                    guard j >= 0, j < n else { continue }
                    let row = convW + (o * kernel + k) * ci
                    for c in 0..<ci {
                        g[row + c] += d * a[j * ci + c]
                        da[j * ci + c] += d * w[row + c]
                    }
                }
            }
        }
        for i in 0..<(n * ci) where x[i] > 0 { dx[i] += da[i] }
    }
}
