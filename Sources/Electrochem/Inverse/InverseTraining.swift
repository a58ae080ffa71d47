import BenchCore
import Numerics

/// The unsupervised training loss of one spectrum (Buteau 2021, ch. 2):
/// `L = ρ² + stopgrad(ρ²) · (prior + order + band + complexity)`, where ρ is the rescaled residual of
/// the network's parameters against the (normalised) spectrum itself. No labels are needed.
public struct InverseLoss: Sendable {
    public var priorWeight = 1e-3
    public var orderWeight = 1.0
    public var bandWeight = 1.0
    public var complexityWeight = 0.05

    public init() {}

    /// Loss of one prepared input (`n × InverseNetwork.inputs`, mask 1 on every point) for the
    /// circuit `variant` at θ = prior mean + `output`; writes `∂L/∂output` into `dOutput` when given
    /// (zero for the entries the variant fixes). Penalties cover the variant's present arcs and free
    /// entries only. Returns (total loss, ρ²).
    public func evaluate(input: UnsafeBufferPointer<Double>, points n: Int, variant: CircuitVariant = .full,
                         priorMean: [Double], output: [Double],
                         dOutput: UnsafeMutableBufferPointer<Double>?) -> (loss: Double, reconstruction: Double) {
        let count = LiIonFamily.parameterCount, stride = InverseNetwork.inputs
        var theta = zip(priorMean, output).map { $0 + $1 }
        variant.constrain(&theta)
        // Spreads of the data.
        var meanRe = 0.0, meanIm = 0.0
        for i in 0..<n { meanRe += input[i * stride + 1]; meanIm += input[i * stride + 2] }
        meanRe /= Double(n); meanIm /= Double(n)
        var varRe = 0.0, varIm = 0.0
        for i in 0..<n {
            varRe += (input[i * stride + 1] - meanRe) * (input[i * stride + 1] - meanRe)
            varIm += (input[i * stride + 2] - meanIm) * (input[i * stride + 2] - meanIm)
        }
        var sRe = (varRe / Double(n)).squareRoot(), sIm = (varIm / Double(n)).squareRoot()
        let floor = 1e-3 * max(sRe, sIm, .leastNormalMagnitude)
        sRe = max(sRe, floor); sIm = max(sIm, floor)

        var gradient = [Complex<Double>](repeating: .zero, count: count)
        var dTheta = [Double](repeating: 0, count: count)
        var sum = 0.0
        var lowest = Double.infinity, highest = -Double.infinity
        theta.withUnsafeBufferPointer { t in
            gradient.withUnsafeMutableBufferPointer { g in
                for i in 0..<n {
                    let w = input[i * stride]
                    lowest = min(lowest, w); highest = max(highest, w)
                    let z = LiIonFamily.impedance(w: w, theta: t, variant: variant, gradient: dOutput == nil ? nil : g.baseAddress)
                    let er = (z.real - input[i * stride + 1]) / sRe, ei = (z.imaginary - input[i * stride + 2]) / sIm
                    sum += er * er + ei * ei
                    guard dOutput != nil else { continue }
                    for k in 0..<count { dTheta[k] += er * g[k].real / sRe + ei * g[k].imaginary / sIm }
                }
            }
        }
        let reconstruction = sum / Double(2 * n)
        for k in 0..<count { dTheta[k] /= Double(n) }

        // Penalties, each with its gradient in pTheta; weighted by the stopped reconstruction loss.
        var penalty = 0.0
        var pTheta = [Double](repeating: 0, count: count)
        let fixed = variant.fixedEntries
        for k in 0..<count where !fixed.contains(k) {
            let d = output[k] / InverseModel.priorSpread[k]
            penalty += priorWeight * d * d
            pTheta[k] += 2 * priorWeight * d / InverseModel.priorSpread[k]
        }
        let arcs = variant.arcOffsets
        func relu(_ value: Double, weight: Double, plus: Int?, minus: Int?) {
            guard value > 0 else { return }
            penalty += weight * value
            if let plus { pTheta[plus] += weight }
            if let minus { pTheta[minus] -= weight }
        }
        for (a, b) in zip(arcs, arcs.dropFirst()) {
            relu(theta[a + 1] - theta[b + 1], weight: orderWeight, plus: a + 1, minus: b + 1)
        }
        if let first = arcs.first, let last = arcs.last {
            relu(lowest - theta[first + 1], weight: bandWeight, plus: nil, minus: first + 1)
            relu(theta[last + 1] - highest, weight: bandWeight, plus: last + 1, minus: nil)
        }
        // Complexity: ΣR + (Σ√R)², favouring few arcs.
        var total = 0.0, roots = 0.0
        for a in arcs { total += Double.exp(theta[a]); roots += Double.exp(theta[a] / 2) }
        penalty += complexityWeight * (total + roots * roots)
        for a in arcs {
            pTheta[a] += complexityWeight * (Double.exp(theta[a]) + roots * Double.exp(theta[a] / 2))
        }
        if let dOutput {
            for k in 0..<count { dOutput[k] = dTheta[k] + reconstruction * pTheta[k] }
        }
        return (reconstruction * (1 + penalty), reconstruction)
    }
}

/// Adam (Kingma & Ba 2015) over a flat weight vector.
public struct Adam: Sendable {
    public var learningRate: Double
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-8
    var first: [Double]
    var second: [Double]
    public private(set) var step = 0

    public init(count: Int, learningRate: Double) {
        self.learningRate = learningRate
        first = Array(repeating: 0, count: count)
        second = first
    }

    public mutating func update(_ weights: inout [Double], gradient: [Double]) {
        step += 1
        let c1 = 1 - Double.pow(beta1, Double(step)), c2 = 1 - Double.pow(beta2, Double(step))
        for i in weights.indices {
            first[i] = beta1 * first[i] + (1 - beta1) * gradient[i]
            second[i] = beta2 * second[i] + (1 - beta2) * gradient[i] * gradient[i]
            weights[i] -= learningRate * (first[i] / c1) / ((second[i] / c2).squareRoot() + epsilon)
        }
    }
}

/// Random spectra of the Li-ion family, reproducible from a seed: a circuit variant drawn at random
/// (each switch independently, arcs uniform over 1–3), frequency range, point density, arcs,
/// diffusion tail, inductance, inductive loop as the variant has them, proportional noise; then
/// the augmentations of the thesis: drop some of the highest (inductive) frequencies and apply a
/// random impedance scale and frequency shift.
public struct SyntheticSpectra: Sendable {
    public var noise: ClosedRange<Double>
    var random: SplitMix64

    public init(seed: UInt64, noise: ClosedRange<Double> = 0...0.02) {
        random = SplitMix64(seed: seed)
        self.noise = noise
    }

    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * random.nextUnit()
    }

    mutating func gaussian() -> Double {
        let u = max(random.nextUnit(), 1e-300), v = random.nextUnit()
        return (-2 * Double.log(u)).squareRoot() * Double.cos(2 * .pi * v)
    }

    /// The next spectrum, the θ that generated it (of the returned, augmented spectrum; the
    /// spectrum also carries the noise, so θ is its truth, not its best fit) and its variant.
    public mutating func next() -> (spectrum: Spectrum, theta: [Double], variant: CircuitVariant) {
        let high = uniform(2.5...4.5), low = uniform(-3 ... -0.5)
        let count = min(120, max(16, Int(((high - low) * uniform(5...12)).rounded())))
        let frequencies = (0..<count).map { Double.pow(10, high + (low - high) * Double($0) / Double(count - 1)) }
        let wHigh = Double.log(2 * .pi * Double.pow(10, high)), wLow = Double.log(2 * .pi * Double.pow(10, low))
        let variant = CircuitVariant(inductor: random.nextUnit() < 0.5, loop: random.nextUnit() < 0.5,
                                     arcs: Int(uniform(0...2.999)) + 1, warburg: random.nextUnit() < 0.5)
        // Entries of removed elements stay at the prior mean; they do not enter the impedance.
        var theta = InverseModel.defaultPriorMean
        var arcTotal = 0.0
        let centres = (0..<variant.arcs).map { _ in uniform((wLow + 1)...(wHigh - 1)) }.sorted()
        for (k, offset) in variant.arcOffsets.enumerated() {
            let r = Double.log(Double.pow(10, uniform(-1.5...0.3)))
            arcTotal += Double.exp(r)
            theta[offset] = r
            theta[offset + 1] = centres[k]
            theta[offset + 2] = logit(uniform(0.55...0.95))
        }
        // Diffusion tail: its magnitude at the lowest frequency relative to the resistances.
        let diffusion = variant.warburg ? 0.5 : uniform(0.35...0.9)
        theta[1] = Double.log((1 + arcTotal) * Double.pow(10, uniform(-1.3...0.3))) + diffusion * wLow
        theta[2] = logit(diffusion)
        // Inductance: magnitude at the highest frequency relative to R0.
        let alpha = variant.inductor ? 1 : uniform(0.7...0.999)
        theta[3] = Double.log(Double.pow(10, uniform(-2...0.3))) - alpha * wHigh
        theta[4] = (1 / alpha - 1).squareRoot()
        if variant.loop {
            theta[5] = Double.log(Double.pow(10, uniform(-2.5 ... -0.5)))
            theta[6] = wHigh + uniform(-3...1)
            theta[7] = (1 / uniform(0.5...0.999) - 1).squareRoot()
        }

        let level = uniform(noise)
        var impedance = theta.withUnsafeBufferPointer { t in
            frequencies.map { LiIonFamily.impedance(w: Double.log(2 * .pi * $0), theta: t, variant: variant, gradient: nil) }
        }
        for k in impedance.indices {
            let sigma = level * impedance[k].length
            impedance[k] += Complex(sigma * gaussian(), sigma * gaussian())
        }
        var (spectrum, shift) = augmentedWithShift(Spectrum(frequencies: frequencies, impedance: impedance))
        // Absolute level: e^{r_a} in impedance, frequency shifts are applied in `augmented`.
        let logScale = uniform(-5...1)
        spectrum.impedance = spectrum.impedance.map { $0 * Complex(Double.exp(logScale)) }
        // The same symmetry moves the generating θ onto the augmented spectrum.
        LiIonFamily.denormalise(&theta, scale: -logScale, shift: -shift)
        return (spectrum, theta, variant)
    }

    /// Drops up to all of the leading inductive points (highest frequencies first, never past the
    /// first point with Im Z ≤ 0) and shifts the frequency axis by a random factor in [e⁻¹, e].
    public mutating func augmented(_ spectrum: Spectrum) -> Spectrum {
        augmentedWithShift(spectrum).spectrum
    }

    /// `augmented`, also returning the shift of ln ω it applied.
    private mutating func augmentedWithShift(_ spectrum: Spectrum) -> (spectrum: Spectrum, shift: Double) {
        let order = spectrum.frequencies.indices.sorted { spectrum.frequencies[$0] > spectrum.frequencies[$1] }
        let inductive = order.prefix { spectrum.impedance[$0].imaginary > 0 }.count
        let drop = Int(uniform(0...(Double(inductive) + 0.999)))
        let keep = order.dropFirst(drop).sorted()
        let shift = uniform(-1...1)
        let factor = Double.exp(shift)
        return (Spectrum(frequencies: keep.map { spectrum.frequencies[$0] * factor }, impedance: keep.map { spectrum.impedance[$0] }), shift)
    }

    private func logit(_ p: Double) -> Double { Double.log(p / (1 - p)) }
}

/// Training loop: batches of synthetic spectra (each with the switches of the variant that made it)
/// and real spectra (full variant: it contains every other as a limit, and a real spectrum's own
/// variant is unknown), loss through the circuit model, Adam, reproducible from a seed. One thread; call `step()` from a dedicated thread.
public struct InverseTrainer: Sendable {
    public var model: InverseModel
    public var loss = InverseLoss()
    public var batchSize: Int
    /// Share of each batch drawn from `realSpectra` (when there are any).
    public var realShare = 0.25
    public let realSpectra: [Spectrum]
    var optimizer: Adam
    var generator: SyntheticSpectra
    var workspace = InverseNetwork.Workspace()
    var gradient: [Double]
    public static let clipNorm = 5.0

    public init(model: InverseModel, realSpectra: [Spectrum], seed: UInt64, batchSize: Int = 32, learningRate: Double = 1e-3) {
        self.model = model
        self.realSpectra = realSpectra.filter { $0.count >= 8 }
        self.batchSize = batchSize
        optimizer = Adam(count: model.network.weights.count, learningRate: learningRate)
        generator = SyntheticSpectra(seed: seed)
        gradient = Array(repeating: 0, count: model.network.weights.count)
    }

    public var steps: Int { optimizer.step }

    public var learningRate: Double {
        get { optimizer.learningRate }
        set { optimizer.learningRate = newValue }
    }

    /// Mean loss and gradient of a batch of spectra, each with its variant, with respect to the
    /// network weights.
    public mutating func lossAndGradient(_ batch: [(spectrum: Spectrum, variant: CircuitVariant)])
        -> (loss: Double, reconstruction: Double, gradient: [Double]) {
        for i in gradient.indices { gradient[i] = 0 }
        var total = 0.0, reconstruction = 0.0
        var dOutput = [Double](repeating: 0, count: LiIonFamily.parameterCount)
        for (spectrum, variant) in batch {
            let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum), variant: variant)
            let n = spectrum.count
            input.withUnsafeBufferPointer { model.network.forward($0, points: n, workspace: &workspace) }
            let output = workspace.lastOutput
            let value = input.withUnsafeBufferPointer { x in
                dOutput.withUnsafeMutableBufferPointer { d in
                    loss.evaluate(input: x, points: n, variant: variant, priorMean: model.priorMean, output: output, dOutput: d)
                }
            }
            guard value.loss.isFinite, dOutput.allSatisfy(\.isFinite) else { continue }
            total += value.loss
            reconstruction += value.reconstruction
            let scaled = dOutput.map { $0 / Double(batch.count) }
            input.withUnsafeBufferPointer { x in
                model.network.backward(x, points: n, dOutput: scaled, workspace: &workspace, gradient: &gradient)
            }
        }
        return (total / Double(batch.count), reconstruction / Double(batch.count), gradient)
    }

    /// One Adam step on a fresh batch; returns the batch's mean loss and mean ρ².
    public mutating func step() -> (loss: Double, reconstruction: Double) {
        var batch: [(spectrum: Spectrum, variant: CircuitVariant)] = []
        for _ in 0..<batchSize {
            if !realSpectra.isEmpty, generator.random.nextUnit() < realShare {
                let index = Int(generator.random.next() % UInt64(realSpectra.count))
                batch.append((generator.augmented(realSpectra[index]), .full))
            } else {
                let generated = generator.next()
                batch.append((generated.spectrum, generated.variant))
            }
        }
        let (loss, reconstruction, gradient) = lossAndGradient(batch)
        let norm = gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let factor = norm > Self.clipNorm ? Self.clipNorm / norm : 1
        optimizer.update(&model.network.weights, gradient: factor == 1 ? gradient : gradient.map { $0 * factor })
        return (loss, reconstruction)
    }
}
