import BenchCore
import Foundation
import Numerics
import Testing
@testable import Electrochem

/// Bytes of a file under Fixtures/.
func fixtureBytes(_ path: String) throws -> [UInt8] {
    let base = try #require(Bundle.module.resourceURL)
    return Array(try Data(contentsOf: base.appendingPathComponent("Fixtures").appendingPathComponent(path)))
}

func fixtureSpectrum(_ path: String) throws -> SpectrumFile {
    try SpectrumImporter.read(bytes: try fixtureBytes(path), name: path)
}

/// Log-spaced frequencies from `high` down to `low` Hz.
func logFrequencies(from high: Double, to low: Double, count: Int) -> [Double] {
    (0..<count).map { high * Double.pow(low / high, Double($0) / Double(count - 1)) }
}

/// Deterministic standard normal numbers (Box–Muller over SplitMix64).
struct Gaussian {
    var random: SplitMix64
    init(seed: UInt64) { random = SplitMix64(seed: seed) }
    mutating func next() -> Double {
        let u = max(random.nextUnit(), 1e-300), v = random.nextUnit()
        return (-2 * Double.log(u)).squareRoot() * Double.cos(2 * .pi * v)
    }
}

/// A synthetic spectrum of `circuit` with multiplicative complex noise of relative size `noise`.
func syntheticSpectrum(_ circuit: Circuit, _ parameters: [Double], frequencies: [Double], noise: Double, seed: UInt64 = 1) -> Spectrum {
    var gaussian = Gaussian(seed: seed)
    let z = circuit.impedance(parameters: parameters, frequencies: frequencies).map { value in
        value + Complex(value.length * noise * gaussian.next(), value.length * noise * gaussian.next())
    }
    return Spectrum(frequencies: frequencies, impedance: z)
}

func relativeError(_ a: Double, _ b: Double) -> Double { abs(a - b) / abs(b) }
