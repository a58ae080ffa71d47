import BenchCore
import Foundation
import Numerics
import Testing
@testable import Electrochem

/// A network whose output layer is not zero, so every weight influences the prediction.
private func randomNetwork(seed: UInt64, shape: InverseNetwork.Shape = InverseNetwork.Shape()) -> InverseNetwork {
    var network = InverseNetwork(shape: shape, seed: seed)
    var random = SplitMix64(seed: seed &+ 7)
    let layout = InverseNetwork.Layout(shape)
    for i in layout.d2W..<layout.count { network.weights[i] = 0.2 * (2 * random.nextUnit() - 1) }
    for i in layout.attW..<layout.attB { network.weights[i] = 2 * random.nextUnit() - 1 }
    return network
}

private func sampleTheta(seed: UInt64) -> [Double] {
    var random = SplitMix64(seed: seed)
    return InverseModel.defaultPriorMean.map { $0 + 2 * random.nextUnit() - 1 }
}

@Suite struct InverseModelTests {
    @Test func familyImpedanceMatchesTheCircuitEngine() throws {
        let circuit = try Circuit(LiIonFamily.circuitName)
        let frequencies = logFrequencies(from: 1e4, to: 1e-3, count: 50)
        for seed in 1...5 as ClosedRange<UInt64> {
            let theta = sampleTheta(seed: seed)
            let engine = circuit.impedance(parameters: LiIonFamily.circuitParameters(theta), frequencies: frequencies)
            let family = theta.withUnsafeBufferPointer { t in
                frequencies.map { LiIonFamily.impedance(w: Double.log(2 * .pi * $0), theta: t, gradient: nil) }
            }
            for (a, b) in zip(engine, family) {
                // Two independent formulas of the same impedance: agreement to rounding.
                #expect((a - b).length <= 1e-10 * a.length)
            }
        }
    }

    @Test func familyGradientMatchesFiniteDifferences() {
        let theta = sampleTheta(seed: 11)
        var gradient = [Complex<Double>](repeating: .zero, count: LiIonFamily.parameterCount)
        for w in [-4.0, 0.3, 6.5] {
            _ = theta.withUnsafeBufferPointer { t in
                gradient.withUnsafeMutableBufferPointer { LiIonFamily.impedance(w: w, theta: t, gradient: $0.baseAddress) }
            }
            for k in theta.indices {
                let h = 1e-6
                var plus = theta, minus = theta
                plus[k] += h; minus[k] -= h
                let zp = plus.withUnsafeBufferPointer { LiIonFamily.impedance(w: w, theta: $0, gradient: nil) }
                let zm = minus.withUnsafeBufferPointer { LiIonFamily.impedance(w: w, theta: $0, gradient: nil) }
                let numeric = (zp - zm) / Complex(2 * h)
                // Central differences: truncation O(h²) plus rounding O(ε/h) ≈ 1e-10.
                #expect((numeric - gradient[k]).length <= 1e-7 * max(1, gradient[k].length), "θ[\(k)] at w = \(w)")
            }
        }
    }

    @Test func lossGradientWithRespectToOutputsMatchesFiniteDifferences() {
        var generator = SyntheticSpectra(seed: 3)
        let spectrum = generator.next().spectrum
        let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum))
        var random = SplitMix64(seed: 5)
        // Deviations large enough that the order, band and prior penalties are all active.
        var output = (0..<LiIonFamily.parameterCount).map { _ in 3 * (2 * random.nextUnit() - 1) }
        output[LiIonFamily.arcOffsets[0] + 1] = 9
        let loss = InverseLoss()
        var analytic = [Double](repeating: 0, count: output.count)
        _ = input.withUnsafeBufferPointer { x in
            analytic.withUnsafeMutableBufferPointer { d in
                loss.evaluate(input: x, points: spectrum.count, priorMean: InverseModel.defaultPriorMean, output: output, dOutput: d)
            }
        }
        // The gradient treats the penalties' factor ρ² as a constant (stop-gradient), so compare
        // against finite differences of ρ² + c·P with c frozen at its current value.
        let frozen = input.withUnsafeBufferPointer {
            loss.evaluate(input: $0, points: spectrum.count, priorMean: InverseModel.defaultPriorMean, output: output, dOutput: nil)
        }
        func surrogate(_ o: [Double]) -> Double {
            let v = input.withUnsafeBufferPointer {
                loss.evaluate(input: $0, points: spectrum.count, priorMean: InverseModel.defaultPriorMean, output: o, dOutput: nil)
            }
            let penalty = v.loss / v.reconstruction - 1
            return v.reconstruction + frozen.reconstruction * penalty
        }
        for k in output.indices {
            let h = 1e-6
            var plus = output, minus = output
            plus[k] += h; minus[k] -= h
            let numeric = (surrogate(plus) - surrogate(minus)) / (2 * h)
            #expect(abs(numeric - analytic[k]) <= 1e-6 * max(1, abs(analytic[k])), "output \(k): \(numeric) vs \(analytic[k])")
        }
    }

    @Test func networkGradientMatchesFiniteDifferences() {
        var generator = SyntheticSpectra(seed: 9)
        let batch = [generator.next().spectrum, generator.next().spectrum]
        let model = InverseModel(network: randomNetwork(seed: 21))
        var trainer = InverseTrainer(model: model, realSpectra: [], seed: 1)
        let analytic = trainer.lossAndGradient(batch).gradient
        let layout = InverseNetwork.Layout(model.network.shape)
        // A few weights from every layer.
        let probes = [0, 3, layout.inB + 1, layout.c1W + 5, layout.c1W + 777, layout.c1B + 2, layout.c2W + 11,
                      layout.c2W + 2000, layout.c2B + 7, layout.proj + 40, layout.attW + 3, layout.attB,
                      layout.d1W + 100, layout.d1B + 9, layout.d2W + 50, layout.d2B + 16]
        for index in probes {
            // Frozen stop-gradient factor: per spectrum, loss = ρ² + c·P with c fixed.
            func surrogate(_ delta: Double) -> Double {
                var shifted = model
                shifted.network.weights[index] += delta
                var workspace = InverseNetwork.Workspace()
                var total = 0.0
                for spectrum in batch {
                    let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum))
                    let frozenOutput = model.normalisedTheta(input, points: spectrum.count, workspace: &workspace)
                        .enumerated().map { $1 - model.priorMean[$0] }
                    let frozen = input.withUnsafeBufferPointer {
                        InverseLoss().evaluate(input: $0, points: spectrum.count, priorMean: model.priorMean, output: frozenOutput, dOutput: nil)
                    }
                    let output = shifted.normalisedTheta(input, points: spectrum.count, workspace: &workspace)
                        .enumerated().map { $1 - model.priorMean[$0] }
                    let v = input.withUnsafeBufferPointer {
                        InverseLoss().evaluate(input: $0, points: spectrum.count, priorMean: model.priorMean, output: output, dOutput: nil)
                    }
                    total += v.reconstruction + frozen.reconstruction * (v.loss / v.reconstruction - 1)
                }
                return total / Double(batch.count)
            }
            let h = 1e-5
            let numeric = (surrogate(h) - surrogate(-h)) / (2 * h)
            #expect(abs(numeric - analytic[index]) <= 1e-5 * max(1e-2, abs(analytic[index])),
                    "weight \(index): finite difference \(numeric), backward \(analytic[index])")
        }
    }

    @Test func scalingAndShiftingTransformsParametersAsTheSymmetryPredicts() throws {
        let model = InverseModel(network: randomNetwork(seed: 4))
        var generator = SyntheticSpectra(seed: 12)
        let spectrum = generator.next().spectrum
        let base = try model.predict(spectrum)
        let (ra, wa) = (1.7, -2.3)
        let moved = Spectrum(frequencies: spectrum.frequencies.map { $0 * Double.exp(wa) },
                             impedance: spectrum.impedance.map { $0 * Complex(Double.exp(ra)) })
        let shifted = try model.predict(moved)
        var expected = base.theta
        LiIonFamily.denormalise(&expected, scale: -ra, shift: -wa)
        for k in expected.indices {
            // Normalisation makes both network inputs equal up to rounding.
            #expect(abs(shifted.theta[k] - expected[k]) <= 1e-9 * max(1, abs(expected[k])), "θ[\(k)]")
        }
        // Resistances scale with the impedance; exponents are unchanged.
        #expect(abs(shifted.parameters[0] / base.parameters[0] - Double.exp(ra)) <= 1e-9 * Double.exp(ra))
        #expect(abs(shifted.parameters[2] - base.parameters[2]) <= 1e-12)
        #expect(abs(shifted.reconstructionError - base.reconstructionError) <= 1e-9)
    }

    @Test func paddingNeverChangesAPrediction() {
        let network = randomNetwork(seed: 8)
        var generator = SyntheticSpectra(seed: 2)
        let spectrum = generator.next().spectrum
        let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum))
        var workspace = InverseNetwork.Workspace()
        input.withUnsafeBufferPointer { network.forward($0, points: spectrum.count, workspace: &workspace) }
        let reference = workspace.lastOutput
        // Masked points with arbitrary values before and after the spectrum.
        let garbage: [Double] = [5, -3, 9, 0, 1e3, 2, -7, 0, -11, 0.5, 4, 0]
        let padded = garbage + input + garbage + garbage
        padded.withUnsafeBufferPointer { network.forward($0, points: spectrum.count + 9, workspace: &workspace) }
        for (a, b) in zip(reference, workspace.lastOutput) { #expect(abs(a - b) <= 1e-12 * max(1, abs(a))) }
    }

    @Test func shortTrainingRunReducesTheResidual() {
        var shape = InverseNetwork.Shape()
        shape.width0 = 8; shape.width1 = 8; shape.hidden = 16
        var trainer = InverseTrainer(model: InverseModel(network: InverseNetwork(shape: shape, seed: 1)),
                                     realSpectra: [], seed: 1, batchSize: 8, learningRate: 1e-2)
        var generator = SyntheticSpectra(seed: 99, noise: 0.005...0.005)
        let heldOut = (0..<16).map { _ in generator.next().spectrum }
        func medianResidual() -> Double {
            let values = heldOut.compactMap { try? trainer.model.predict($0).reconstructionError }.sorted()
            return values[values.count / 2]
        }
        let before = medianResidual()
        for _ in 0..<150 { _ = trainer.step() }
        let after = medianResidual()
        // The untrained network leaves ρ ≈ 1.5 (the prior-mean circuit); 150 steps of a small
        // network bring the median below 0.9.
        #expect(before > 1.2)
        #expect(after < 0.9, "median ρ \(before) → \(after)")
    }

    @Test func generatorReturnsTheTruthOfTheAugmentedSpectrum() {
        // Without noise, the returned θ reproduces the scaled, shifted, trimmed spectrum exactly.
        var generator = SyntheticSpectra(seed: 31, noise: 0...0)
        for _ in 0..<50 {
            let (spectrum, theta) = generator.next()
            #expect(RescaledResidual(spectrum: spectrum, theta: theta).value <= 1e-9)
        }
    }

    @Test func noiseFloorIsTheRootMeanSquareResidualOfNoise() {
        // Independent check by simulation: 400 noisy copies of one spectrum, noise σ = 2 %·|Z| on each part.
        var generator = SyntheticSpectra(seed: 5, noise: 0...0)
        let clean = generator.next().spectrum
        var random = SplitMix64(seed: 77)
        func gaussian() -> Double {
            let u = max(random.nextUnit(), 1e-300), v = random.nextUnit()
            return (-2 * Double.log(u)).squareRoot() * Double.cos(2 * .pi * v)
        }
        var meanSquare = 0.0
        let copies = 400
        for _ in 0..<copies {
            let noisy = Spectrum(frequencies: clean.frequencies, impedance: clean.impedance.map {
                $0 + Complex(0.02 * $0.length * gaussian(), 0.02 * $0.length * gaussian())
            })
            // ρ of the clean model against noisy data, with the spreads of the clean spectrum as the floor uses.
            let r = RescaledResidual(spectrum: clean, model: noisy.impedance).value
            meanSquare += r * r / Double(copies)
        }
        let floor = RescaledResidual.noiseFloor(of: clean, level: 0.02)
        // 400 copies of ≥ 32 squared Gaussians: the mean square is known to a few percent.
        #expect(abs(meanSquare.squareRoot() / floor - 1) <= 0.05, "simulated \(meanSquare.squareRoot()), formula \(floor)")
    }

    @Test func trueParametersOfGeneratedSpectraPassTheProperFitLimit() {
        let model = InverseModel(network: InverseNetwork(seed: 1))
        var generator = SyntheticSpectra(seed: 1_000_003, noise: 0.005...0.02)
        var strictlyBelow = 0
        for _ in 0..<300 {
            let (spectrum, theta) = generator.next()
            let truth = RescaledResidual(spectrum: spectrum, theta: theta).value
            #expect(truth <= model.properFitLimit(for: spectrum), "ρ at the truth \(truth)")
            if truth <= model.properFitThreshold { strictlyBelow += 1 }
        }
        // The reason for the noise allowance: a fixed ρ ≤ 0.1 rejects the truth of many spectra.
        #expect(strictlyBelow < 250, "\(strictlyBelow) of 300 truths at ρ ≤ 0.1")
    }

    @Test func modelFileRoundTripsAndRejectsBadInput() throws {
        let model = InverseModel(network: randomNetwork(seed: 3), recipe: ["seed": "3"])
        let text = model.serialized()
        let read = try InverseModel(text: text, name: "m")
        #expect(read.recipe == ["seed": "3"])
        #expect(read.priorMean == model.priorMean)
        // Weights are stored in single precision.
        for (a, b) in zip(read.network.weights, model.network.weights) { #expect(abs(a - b) <= 1e-7 * max(1, abs(b))) }
        #expect(throws: InverseModelFileError.self) { try InverseModel(text: "hello\n", name: "m") }
        let truncated = String(text.dropLast(40))
        let error = try #require(throws: InverseModelFileError.self) { try InverseModel(text: truncated, name: "m") }
        #expect(error.description.hasPrefix("m:"))
        let badShape = text.replacingFirst("shape: 16", with: "shape: 1e300")
        #expect(throws: InverseModelFileError.self) { try InverseModel(text: badShape, name: "m") }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

@Suite struct ShippedInverseModelTests {
    /// Figures documented in docs/inverse-model.md for the 9 held-out real spectra.
    static let documentedNetworkMedian = 0.0678
    static let documentedPolishedMedian = 0.0099
    static let documentedPolishedProperlyFitted = 9

    @Test func shippedModelReproducesItsHeldOutFigures() throws {
        let model = try #require(InverseModel.shipped)
        #expect(model.recipe["command"]?.hasPrefix("cellbench train-inverse") == true)
        let names = ["impedancepy_exampleData.csv", "pydrttools_LIB_data_2.csv"]
            + ["010", "020", "030", "050", "070", "090", "100"].map { "panasonic_18650pf_25C_soc\($0).csv" }
        var network: [Double] = [], polished: [Double] = [], limits: [Double] = []
        for name in names {
            let spectrum = try fixtureSpectrum("inverse/heldout/" + name).spectrum
            network.append(try model.predict(spectrum).reconstructionError)
            let fit = try model.fit(spectrum, method: .inverseThenLM, options: FitOptions(weighting: .spread))
            polished.append(fit.residual)
            limits.append(fit.limit)
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        // Same code and weights give the same numbers up to rounding; 2 % covers libm differences.
        #expect(abs(median(network) - Self.documentedNetworkMedian) <= 0.02 * Self.documentedNetworkMedian)
        #expect(abs(median(polished) - Self.documentedPolishedMedian) <= 0.02 * Self.documentedPolishedMedian)
        #expect(zip(polished, limits).filter { $0 <= $1 }.count == Self.documentedPolishedProperlyFitted)
    }

    @Test func sweepAnalyzerFitsLiIonSweepsThroughTheNetworkThenThePolish() throws {
        let spectrum = try fixtureSpectrum("inverse/heldout/panasonic_18650pf_25C_soc050.csv").spectrum
        let points = zip(spectrum.frequencies, spectrum.impedance).map { ImpedancePoint(frequency: $0, zReal: $1.real, zImag: $1.imaginary) }
        let analyzer = try SweepAnalyzer(circuit: "li-ion")
        #expect(analyzer.method == .inverseThenLM)
        let analysis = analyzer.analyze(points)
        let inverse = try #require(analysis.inverse)
        let fit = try #require(analysis.fit)
        // The polish starts at the network's answer and minimises ρ (spread weighting): it can only
        // lower χ² = 2Nρ² and ρ itself.
        #expect(fit.weighting == .spread)
        #expect(inverse.residual <= inverse.network.reconstructionError * (1 + 1e-9))
        let networkFit = try InverseModel.circuit.fit(spectrum, options: FitOptions(
            weighting: .spread, initialGuess: Dictionary(uniqueKeysWithValues: zip(InverseModel.circuit.parameterNames,
                                                              InverseModel.insideBounds(inverse.network.parameters, circuit: InverseModel.circuit))),
            starts: 1, maxIterations: 0))
        #expect(fit.chiSquare <= networkFit.chiSquare * (1 + 1e-9))
        #expect(inverse.parameterShift.isFinite)
        #expect(try SweepAnalyzer(circuit: "R0-p(R1,CPE1)").method == .lm)
    }
}
