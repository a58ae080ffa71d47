import ArgumentParser
import BenchCore
import Electrochem
import Foundation
import Numerics

/// Impedance analysis figures for the side-by-side run with impedance.py
/// (Benchmarks/impedance/run.sh): `generate` writes the shared inputs, `run` times this side.
struct ImpedanceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "impedance",
        abstract: "EIS fitting and Lin-KK throughput on the inputs shared with impedance.py.",
        subcommands: [Generate.self, Run.self]
    )

    static let circuit = "R0-p(R1,CPE1)-p(R2,CPE2)-W1"
    static let largeCircuit = "p(R1,C1)-p(R2,C2)"
    static let largeTruth = [0.02, 0.001, 0.03, 20.0]
    /// Centre of the generated parameter ranges: the single starting point given to impedance.py.
    static let fixedGuess = [0.017, 0.01, 0.62, 0.875, 0.02, 50, 0.8, 0.004]

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the synthetic spectra and their true parameters.")
        @Option(help: "Output directory.") var out: String
        @Option(help: "Number of 60-point spectra.") var count = 1000
        @Option(help: "Relative complex noise.") var noise = 0.01

        func run() throws {
            var random = Random(seed: 2024)
            let circuit = try Circuit(ImpedanceBench.circuit)
            let frequencies = (0..<60).map { 1e4 * Double.pow(1e-6, Double($0) / 59) }
            var spectra = "spectrum,frequency_hz,z_real_ohm,z_imag_ohm\n"
            var truth = "spectrum," + circuit.parameterNames.joined(separator: ",") + "\n"
            for s in 0..<count {
                // Realistic Li-ion-like ranges; CPE coefficients follow from time constants.
                let r0 = random.logUniform(0.01, 0.03), r1 = random.logUniform(0.005, 0.02), r2 = random.logUniform(0.01, 0.04)
                let a1 = random.uniform(0.8, 0.95), a2 = random.uniform(0.7, 0.9)
                let tau1 = random.logUniform(1e-3, 1e-2), tau2 = random.logUniform(0.3, 3)
                let w = random.logUniform(0.002, 0.008)
                let p = [r0, r1, Double.pow(tau1, a1) / r1, a1, r2, Double.pow(tau2, a2) / r2, a2, w]
                let z = circuit.impedance(parameters: p, frequencies: frequencies)
                for (f, value) in zip(frequencies, z) {
                    let re = value.real + value.length * noise * random.normal()
                    let im = value.imaginary + value.length * noise * random.normal()
                    spectra += "\(s),\(f),\(re),\(im)\n"
                }
                truth += "\(s)," + p.map { "\($0)" }.joined(separator: ",") + "\n"
            }
            try spectra.write(toFile: out + "/spectra.csv", atomically: true, encoding: .utf8)
            try truth.write(toFile: out + "/truth.csv", atomically: true, encoding: .utf8)
            let large = try Circuit(ImpedanceBench.largeCircuit)
            let largeF = (0..<10_000).map { 1e6 * Double.pow(1e-9, Double($0) / 9999) }
            var text = "frequency_hz,z_real_ohm,z_imag_ohm\n"
            for (f, value) in zip(largeF, large.impedance(parameters: ImpedanceBench.largeTruth, frequencies: largeF)) {
                text += "\(f),\(value.real + value.length * noise * random.normal()),\(value.imaginary + value.length * noise * random.normal())\n"
            }
            try text.write(toFile: out + "/large.csv", atomically: true, encoding: .utf8)
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time fits and Lin-KK on the generated inputs; prints key=value lines.")
        @Option(help: "Directory written by `generate`.") var data: String
        @Option(help: "The impedance.py example spectrum (CSV).") var example: String
        @Option(help: "Relative tolerance on every parameter for a fit to count as a success.") var tolerance = 0.25

        func run() throws {
            let circuit = try Circuit(ImpedanceBench.circuit)
            let spectra = try Table(path: data + "/spectra.csv")
            let truth = try Table(path: data + "/truth.csv")
            var bySpectrum: [Int: (f: [Double], z: [Complex<Double>])] = [:]
            for row in spectra.rows {
                bySpectrum[Int(row[0]), default: ([], [])].f.append(row[1])
                bySpectrum[Int(row[0]), default: ([], [])].z.append(Complex(row[2], row[3]))
            }
            let groups = truth.rows.compactMap { row in bySpectrum[Int(row[0])].map { (Spectrum(frequencies: $0.f, impedance: $0.z), Array(row.dropFirst())) } }
            // Automatic initial guess (the default), then the fixed guess impedance.py is given.
            let fixedGuess = Dictionary(uniqueKeysWithValues: zip(circuit.parameterNames, ImpedanceBench.fixedGuess))
            for (label, options) in [("auto", FitOptions()), ("fixed_guess", FitOptions(initialGuess: fixedGuess, starts: 1))] {
                var successes = 0, failures = 0
                var rmses: [Double] = []
                let start = BenchClock.monotonicNs(), cpuStart = processCPUSeconds()
                for (spectrum, truth) in groups {
                    do {
                        let fit = try circuit.fit(spectrum, options: options)
                        rmses.append(fit.rmse)
                        if zip(fit.parameters, truth).allSatisfy({ abs($0.value - $1) <= tolerance * abs($1) }) { successes += 1 }
                    } catch {
                        failures += 1
                    }
                }
                let seconds = Double(BenchClock.monotonicNs() - start) / 1e9, cpu = processCPUSeconds() - cpuStart
                rmses.sort()
                print("\(label)_fits=\(groups.count)")
                print("\(label)_fits_per_second=\(Double(groups.count) / seconds)")
                print("\(label)_fits_per_cpu_second=\(Double(groups.count) / cpu)")
                print("\(label)_success_rate=\(Double(successes) / Double(groups.count))")
                print("\(label)_failed_fits=\(failures)")
                print("\(label)_median_rmse_ohm=\(median(rmses))")
            }

            let large = try SpectrumImporter.read(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: data + "/large.csv"))), name: "large.csv").spectrum
            let largeCircuit = try Circuit(ImpedanceBench.largeCircuit)
            let guess = ["R1": 0.01, "C1": 0.01, "R2": 0.01, "C2": 10]
            let largeStart = BenchClock.monotonicNs()
            let repeats = 5
            var largeFit: FitResult?
            for _ in 0..<repeats { largeFit = try largeCircuit.fit(large, options: FitOptions(initialGuess: guess, starts: 1)) }
            print("large_fit_seconds=\(Double(BenchClock.monotonicNs() - largeStart) / 1e9 / Double(repeats))")
            print("large_fit_parameters=\(largeFit?.parameters.map { "\($0.value)" }.joined(separator: " ") ?? "")")

            let example = try SpectrumImporter.read(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: self.example))), name: self.example).spectrum
            let kkRepeats = 200
            var kk: LinKKResult?
            let kkStart = BenchClock.monotonicNs()
            for _ in 0..<kkRepeats { kk = try example.linKK(LinKKOptions(seriesCapacitor: false)) }
            print("linkk_seconds=\(Double(BenchClock.monotonicNs() - kkStart) / 1e9 / Double(kkRepeats))")
            print("linkk_M=\(kk?.elementCount ?? 0)")
            print("linkk_mu=\(kk?.mu ?? .nan)")
        }
    }
}

/// CPU time of this process, s: on a machine shared with other work it counts only the time the
/// process actually ran, so it varies far less with the load than elapsed time does.
private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Median as numpy computes it (mean of the two middle values for an even count).
private func median(_ sorted: [Double]) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let middle = sorted.count / 2
    return sorted.count % 2 == 0 ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
}

/// A numeric CSV with one header line.
private struct Table {
    var rows: [[Double]] = []
    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (n, line) in text.split(separator: "\n").dropFirst().enumerated() {
            let values = line.split(separator: ",").map { Double($0) }
            guard values.allSatisfy({ $0 != nil }) else { throw ValidationError("\(path):\(n + 2): not numeric") }
            rows.append(values.compactMap { $0 })
        }
    }
}

/// Reproducible random numbers for the generated inputs (SplitMix64, Box–Muller).
private struct Random {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func unit() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) * 0x1p-53
    }
    mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }
    mutating func logUniform(_ a: Double, _ b: Double) -> Double { Double.exp(uniform(Double.log(a), Double.log(b))) }
    mutating func normal() -> Double {
        (-2 * Double.log(max(unit(), 1e-300))).squareRoot() * Double.cos(2 * .pi * unit())
    }
}
