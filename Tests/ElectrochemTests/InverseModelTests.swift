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

private func sampleTheta(seed: UInt64, variant: CircuitVariant = .full) -> [Double] {
    var random = SplitMix64(seed: seed)
    var theta = InverseModel.defaultPriorMean.map { $0 + 2 * random.nextUnit() - 1 }
    variant.constrain(&theta)
    return theta
}

/// Variants covering each value of every switch, the full one first.
private let sampleVariants: [CircuitVariant] = [
    .full,
    CircuitVariant(inductor: true, loop: false, arcs: 1, warburg: true),
    CircuitVariant(inductor: false, loop: true, arcs: 2, warburg: true),
    CircuitVariant(inductor: true, loop: false, arcs: 2, warburg: false),
]

/// The first generated spectrum of `variant` from a seeded generator.
private func generatedSpectrum(of variant: CircuitVariant, seed: UInt64) -> (spectrum: Spectrum, theta: [Double]) {
    var generator = SyntheticSpectra(seed: seed)
    while true {
        let next = generator.next()
        if next.variant == variant { return (next.spectrum, next.theta) }
    }
}

@Suite struct InverseModelTests {
    @Test(arguments: sampleVariants)
    func familyImpedanceMatchesTheCircuitEngine(variant: CircuitVariant) throws {
        let circuit = try Circuit(LiIonFamily.circuitName)
        let frequencies = logFrequencies(from: 1e4, to: 1e-3, count: 50)
        for seed in 1...5 as ClosedRange<UInt64> {
            let theta = sampleTheta(seed: seed, variant: variant)
            let parameters = LiIonFamily.circuitParameters(theta, variant: variant)
            // The pinned exponents and removed elements, exactly.
            if variant.warburg { #expect(parameters[2] == 0.5) }
            if variant.inductor { #expect(parameters[4] == 1) }
            #expect((parameters[5] == 0) == !variant.loop)
            #expect(parameters.enumerated().filter { [8, 11, 14].contains($0.offset) && $0.element > 0 }.count == variant.arcs)
            let engine = circuit.impedance(parameters: parameters, frequencies: frequencies)
            let family = theta.withUnsafeBufferPointer { t in
                frequencies.map { LiIonFamily.impedance(w: Double.log(2 * .pi * $0), theta: t, variant: variant, gradient: nil) }
            }
            for (a, b) in zip(engine, family) {
                // Two independent formulas of the same impedance: agreement to rounding.
                #expect((a - b).length <= 1e-10 * a.length)
            }
        }
    }

    @Test(arguments: sampleVariants)
    func familyGradientMatchesFiniteDifferences(variant: CircuitVariant) {
        let theta = sampleTheta(seed: 11, variant: variant)
        var gradient = [Complex<Double>](repeating: .zero, count: LiIonFamily.parameterCount)
        for w in [-4.0, 0.3, 6.5] {
            _ = theta.withUnsafeBufferPointer { t in
                gradient.withUnsafeMutableBufferPointer { LiIonFamily.impedance(w: w, theta: t, variant: variant, gradient: $0.baseAddress) }
            }
            for k in theta.indices {
                // Differences of the constrained θ: a fixed entry does not move the impedance.
                let h = 1e-6
                var plus = theta, minus = theta
                plus[k] += h; minus[k] -= h
                variant.constrain(&plus); variant.constrain(&minus)
                let zp = plus.withUnsafeBufferPointer { LiIonFamily.impedance(w: w, theta: $0, variant: variant, gradient: nil) }
                let zm = minus.withUnsafeBufferPointer { LiIonFamily.impedance(w: w, theta: $0, variant: variant, gradient: nil) }
                let numeric = (zp - zm) / Complex(2 * h)
                // Central differences: truncation O(h²) plus rounding O(ε/h) ≈ 1e-10.
                #expect((numeric - gradient[k]).length <= 1e-7 * max(1, gradient[k].length), "θ[\(k)] at w = \(w)")
                if variant.fixedEntries.contains(k) { #expect(gradient[k] == .zero, "fixed θ[\(k)]") }
            }
        }
    }

    @Test(arguments: sampleVariants)
    func lossGradientWithRespectToOutputsMatchesFiniteDifferences(variant: CircuitVariant) {
        let spectrum = generatedSpectrum(of: variant, seed: 3).spectrum
        let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum), variant: variant)
        var random = SplitMix64(seed: 5)
        // Deviations large enough that the order, band and prior penalties are all active.
        var output = (0..<LiIonFamily.parameterCount).map { _ in 3 * (2 * random.nextUnit() - 1) }
        output[LiIonFamily.arcOffsets[0] + 1] = 9
        let loss = InverseLoss()
        var analytic = [Double](repeating: 0, count: output.count)
        _ = input.withUnsafeBufferPointer { x in
            analytic.withUnsafeMutableBufferPointer { d in
                loss.evaluate(input: x, points: spectrum.count, variant: variant, priorMean: InverseModel.defaultPriorMean,
                              output: output, dOutput: d)
            }
        }
        // The gradient treats the penalties' factor ρ² as a constant (stop-gradient), so compare
        // against finite differences of ρ² + c·P with c frozen at its current value.
        let frozen = input.withUnsafeBufferPointer {
            loss.evaluate(input: $0, points: spectrum.count, variant: variant, priorMean: InverseModel.defaultPriorMean,
                          output: output, dOutput: nil)
        }
        func surrogate(_ o: [Double]) -> Double {
            let v = input.withUnsafeBufferPointer {
                loss.evaluate(input: $0, points: spectrum.count, variant: variant, priorMean: InverseModel.defaultPriorMean,
                              output: o, dOutput: nil)
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
            if variant.fixedEntries.contains(k) { #expect(analytic[k] == 0, "fixed output \(k)") }
        }
    }

    @Test func networkGradientMatchesFiniteDifferences() {
        // Two spectra of different variants, so the switch channels carry gradient.
        let batch = [(spectrum: generatedSpectrum(of: .full, seed: 9).spectrum, variant: CircuitVariant.full),
                     (spectrum: generatedSpectrum(of: sampleVariants[1], seed: 9).spectrum, variant: sampleVariants[1])]
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
                for (spectrum, variant) in batch {
                    let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum), variant: variant)
                    func output(_ network: InverseNetwork) -> [Double] {
                        input.withUnsafeBufferPointer { network.forward($0, points: spectrum.count, workspace: &workspace) }
                        return workspace.lastOutput
                    }
                    let frozenOutput = output(model.network), shiftedOutput = output(shifted.network)
                    let frozen = input.withUnsafeBufferPointer {
                        InverseLoss().evaluate(input: $0, points: spectrum.count, variant: variant, priorMean: model.priorMean,
                                               output: frozenOutput, dOutput: nil)
                    }
                    let v = input.withUnsafeBufferPointer {
                        InverseLoss().evaluate(input: $0, points: spectrum.count, variant: variant, priorMean: model.priorMean,
                                               output: shiftedOutput, dOutput: nil)
                    }
                    total += v.reconstruction + frozen.reconstruction * (v.loss / v.reconstruction - 1)
                }
                return total / Double(batch.count)
            }
            let h = 1e-5
            let numeric = (surrogate(h) - surrogate(-h)) / (2 * h)
            // Truncation O(h²) is far below 1e-5 relative; rounding adds a few ulps of the loss (which
            // a random network makes large, ~1e4 here) over 2h: allow 10·ε·L/h for it.
            let rounding = 10 * Double.ulpOfOne * abs(surrogate(0)) / h
            #expect(abs(numeric - analytic[index]) <= 1e-5 * max(1e-2, abs(analytic[index])) + rounding,
                    "weight \(index): finite difference \(numeric), backward \(analytic[index]), rounding \(rounding)")
        }
    }

    @Test(arguments: [sampleVariants[0], sampleVariants[2]])
    func scalingAndShiftingTransformsParametersAsTheSymmetryPredicts(variant: CircuitVariant) throws {
        let model = InverseModel(network: randomNetwork(seed: 4))
        let spectrum = generatedSpectrum(of: variant, seed: 12).spectrum
        let base = try model.predict(spectrum, variant: variant)
        let (ra, wa) = (1.7, -2.3)
        let moved = Spectrum(frequencies: spectrum.frequencies.map { $0 * Double.exp(wa) },
                             impedance: spectrum.impedance.map { $0 * Complex(Double.exp(ra)) })
        let shifted = try model.predict(moved, variant: variant)
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

    @Test(arguments: sampleVariants)
    func paddingNeverChangesAPrediction(variant: CircuitVariant) {
        let network = randomNetwork(seed: 8)
        let spectrum = generatedSpectrum(of: variant, seed: 2).spectrum
        let input = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum), variant: variant)
        var workspace = InverseNetwork.Workspace()
        input.withUnsafeBufferPointer { network.forward($0, points: spectrum.count, workspace: &workspace) }
        let reference = workspace.lastOutput
        // Masked points (mask channel 3 is 0) with arbitrary values, switches included, before and after the spectrum.
        var random = SplitMix64(seed: 6)
        let garbage = (0..<(3 * InverseNetwork.inputs)).map { $0 % InverseNetwork.inputs == 3 ? 0 : 20 * random.nextUnit() - 10 }
        let padded = garbage + input + garbage + garbage
        padded.withUnsafeBufferPointer { network.forward($0, points: spectrum.count + 9, workspace: &workspace) }
        for (a, b) in zip(reference, workspace.lastOutput) { #expect(abs(a - b) <= 1e-12 * max(1, abs(a))) }
        // The switches do reach the output: another variant's switches change it.
        let other = InverseModel.input(spectrum, normalisation: SpectrumNormalisation(spectrum),
                                       variant: variant == .full ? sampleVariants[1] : .full)
        other.withUnsafeBufferPointer { network.forward($0, points: spectrum.count, workspace: &workspace) }
        #expect(zip(reference, workspace.lastOutput).contains { abs($0 - $1) > 1e-6 })
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
        var seen = Set<CircuitVariant>()
        for _ in 0..<200 {
            let (spectrum, theta, variant) = generator.next()
            seen.insert(variant)
            #expect(RescaledResidual(spectrum: spectrum, theta: theta, variant: variant).value <= 1e-9)
        }
        // Every variant is drawn (200 draws of 24 equally likely variants miss one with p < 1e-3).
        #expect(seen.count == 24)
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
            let (spectrum, theta, variant) = generator.next()
            let truth = RescaledResidual(spectrum: spectrum, theta: theta, variant: variant).value
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
        #expect(text.contains("\nswitches: inductor loop arc2 arc3 warburg\n"))
        let versionOne = try #require(throws: InverseModelFileError.self) {
            try InverseModel(text: text.replacingFirst("cellbench-inverse-model 2", with: "cellbench-inverse-model 1"), name: "old.model")
        }
        #expect(versionOne.description.hasPrefix("old.model:1: format version '1' is not supported"))
        #expect(versionOne.description.contains("retrain"))
        let otherSwitches = try #require(throws: InverseModelFileError.self) {
            try InverseModel(text: text.replacingFirst("arc3 warburg", with: "warburg arc3"), name: "m")
        }
        #expect(otherSwitches.line == 4)
    }

    @Test func variantsAreTwentyFourAndReadBackFromTheirNames() throws {
        #expect(CircuitVariant.all.count == 24)
        #expect(Set(CircuitVariant.all).count == 24)
        #expect(Set(CircuitVariant.all.map(\.switches)).count == 24)
        for variant in CircuitVariant.all { #expect(try CircuitVariant(parsing: variant.description) == variant) }
        #expect(CircuitVariant.full.description == "cpe-inductance,loop,arcs=3,cpe-diffusion")
        #expect(try CircuitVariant(parsing: "inductor, no-loop,arcs=2,Warburg")
                == CircuitVariant(inductor: true, loop: false, arcs: 2, warburg: true))
        // Free parameters: 17 minus the pinned exponents and three per removed ZARC.
        #expect(CircuitVariant.all.first?.freeParameterCount == 17 - 1 - 3 - 6 - 1)
        #expect(CircuitVariant.all.last?.freeParameterCount == 17)
        #expect(try VariantChoice(parsing: "auto") == .auto)
        #expect(throws: VariantParseError.self) { try CircuitVariant(parsing: "arcs=4") }
        #expect(throws: VariantParseError.self) { try CircuitVariant(parsing: "inductor,capacitor") }
    }

    @Test func automaticVariantIsTheSimplestProperlyFittedElseTheLowestResidual() throws {
        let model = InverseModel(network: randomNetwork(seed: 5))
        var workspace = InverseNetwork.Workspace()
        for seed in [1, 2, 3] as [UInt64] {
            let spectrum = generatedSpectrum(of: sampleVariants[1], seed: seed).spectrum
            let all = try CircuitVariant.all.map { try model.predict(spectrum, variant: $0) }
            let chosen = try model.predict(spectrum, choice: .auto, workspace: &workspace)
            let limit = model.properFitLimit(for: spectrum)
            let lowest = try #require(all.map(\.reconstructionError).min())
            if let simplest = all.filter({ $0.reconstructionError <= limit }).map(\.variant.freeParameterCount).min() {
                #expect(chosen.variant.freeParameterCount == simplest)
                #expect(chosen.reconstructionError <= limit)
            } else {
                #expect(chosen.reconstructionError == lowest)
            }
            #expect(chosen == all.first { $0.variant == chosen.variant })
        }
    }

    @Test func polishFitsExactlyTheVariantsCircuit() throws {
        let model = InverseModel(network: randomNetwork(seed: 5))
        let variant = CircuitVariant(inductor: true, loop: false, arcs: 2, warburg: true)
        let (spectrum, theta) = generatedSpectrum(of: variant, seed: 4)
        let fit = try model.fit(spectrum, method: .inverseThenLM, variant: .fixed(variant), options: FitOptions(weighting: .spread))
        let byName = Dictionary(uniqueKeysWithValues: fit.fit.parameters.map { ($0.name, $0) })
        for (name, value) in [("CPE1_1", 0.5), ("La1_1", 1), ("Zarc1_0", 0), ("Zarc4_0", 0)] {
            let parameter = try #require(byName[name])
            #expect(parameter.fixed && parameter.value == value, "\(name)")
        }
        #expect(fit.fit.parameters.filter(\.fixed).count == 17 - variant.freeParameterCount)
        // The polished fit of the variant's circuit is at least as good as the generating parameters.
        let truth = RescaledResidual(spectrum: spectrum, theta: theta, variant: variant).value
        #expect(fit.residual <= truth * 1.05, "polished ρ \(fit.residual), truth \(truth)")
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
    static let documentedNetworkMedian = 0.0588
    static let documentedPolishedMedian = 0.0106
    static let documentedPolishedProperlyFitted = 9

    @Test func shippedModelReproducesItsHeldOutFigures() throws {
        let model = try #require(InverseModel.shipped)
        #expect(model.recipe["command"]?.hasPrefix("cellbench train-inverse") == true)
        var network: [Double] = [], polished: [Double] = [], limits: [Double] = []
        for spectrum in try Self.heldOutSpectra() {
            network.append(try model.predict(spectrum).reconstructionError)
            let fit = try model.fit(spectrum, method: .inverseThenLM, options: FitOptions(weighting: .spread))
            polished.append(fit.residual)
            limits.append(fit.limit)
        }
        // Same code and weights give the same numbers up to rounding; 2 % covers libm differences.
        #expect(abs(median(network) - Self.documentedNetworkMedian) <= 0.02 * Self.documentedNetworkMedian)
        #expect(abs(median(polished) - Self.documentedPolishedMedian) <= 0.02 * Self.documentedPolishedMedian)
        #expect(zip(polished, limits).filter { $0 <= $1 }.count == Self.documentedPolishedProperlyFitted)
    }

    /// The polish starts from one point, LM from the automatic guess searches several: the polish
    /// must still end in minima as deep (median ρ over the held-out real spectra within 25 %), or
    /// the network's start is trapping it. Where the second chance runs it includes that same LM,
    /// so this guards its trigger: with the single start the median was 0.0274 against lm's 0.0120.
    @Test func polishLandsAsDeepAsLMFromTheAutomaticGuess() throws {
        let model = try #require(InverseModel.shipped)
        var polished: [Double] = [], lm: [Double] = []
        for spectrum in try Self.heldOutSpectra() {
            polished.append(try model.fit(spectrum, method: .inverseThenLM, options: FitOptions(weighting: .spread)).residual)
            let fit = try InverseModel.circuit.fit(spectrum, options: FitOptions(weighting: .spread))
            lm.append(RescaledResidual(spectrum: spectrum, circuit: InverseModel.circuit, parameters: fit.parameters.map(\.value)).value)
        }
        #expect(median(polished) <= 1.25 * median(lm), "polished \(polished), lm \(lm)")
    }

    /// The 9 held-out real spectra, never seen in training.
    static func heldOutSpectra() throws -> [Spectrum] {
        let names = ["impedancepy_exampleData.csv", "pydrttools_LIB_data_2.csv"]
            + ["010", "020", "030", "050", "070", "090", "100"].map { "panasonic_18650pf_25C_soc\($0).csv" }
        return try names.map { try fixtureSpectrum("inverse/heldout/" + $0).spectrum }
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Network alone, properly fitted among the first 400 of the generated evaluation spectra (seed
    /// 1000003, 0.5–2 % noise, true switches; `eval-inverse --synthetic 400 --network-only`),
    /// documented in docs/inverse-model.md. (All 2,000 take too long in a debug build.)
    static let documentedGeneratedNetworkProperlyFitted = 393

    @Test func shippedModelReproducesItsGeneratedNetworkShare() throws {
        let model = try #require(InverseModel.shipped)
        var generator = SyntheticSpectra(seed: 1_000_003, noise: 0.005...0.02)
        var workspace = InverseNetwork.Workspace()
        var fitted = 0
        for _ in 0..<400 {
            let (spectrum, _, variant) = generator.next()
            let prediction = try model.predict(spectrum, variant: variant, workspace: &workspace)
            if prediction.reconstructionError <= model.properFitLimit(for: spectrum) { fitted += 1 }
        }
        // Same code and weights; a libm difference may move a spectrum sitting at its limit: ±2 of 400.
        #expect(abs(fitted - Self.documentedGeneratedNetworkProperlyFitted) <= 2, "\(fitted) of 400")
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
                                                              InverseModel.insideBounds(inverse.network.parameters, circuit: InverseModel.circuit, margin: InverseModel.exactStartMargin))),
            starts: 1, maxIterations: 0))
        #expect(fit.chiSquare <= networkFit.chiSquare * (1 + 1e-9))
        #expect(inverse.parameterShift.isFinite)
        #expect(try SweepAnalyzer(circuit: "R0-p(R1,CPE1)").method == .lm)
        // With `auto` the polish fits the chosen variant, whose pinned and removed parameters are fixed.
        let auto = try #require(try SweepAnalyzer(circuit: "li-ion", variant: .auto).analyze(points).inverse)
        #expect(auto.fit.parameters.filter(\.fixed).count == 17 - auto.network.variant.freeParameterCount)
        // The full variant alone fits this spectrum properly, so auto finds a proper (possibly simpler) one.
        #expect(auto.network.reconstructionError <= auto.limit)
    }
}
