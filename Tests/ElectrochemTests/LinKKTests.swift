import Numerics
import Testing
@testable import Electrochem

@Suite("Lin-KK")
struct LinKKTests {
    /// impedance.py 1.7.1 `linKK(f, Z, c=0.85, max_M=50)` (see Fixtures/ATTRIBUTION.md).
    @Test("impedance.py example: same M and μ as impedance.py (μ to 1e-6)")
    func impedancePyExample() throws {
        let spectrum = try fixtureSpectrum("impedancepy_exampleData.csv").spectrum
        let all = try spectrum.linKK()
        #expect(all.elementCount == 22)
        #expect(abs(all.mu - 0.8306426290932818) < 1e-6)
        let filtered = try spectrum.droppingInductivePoints().linKK()
        #expect(filtered.elementCount == 21)
        #expect(abs(filtered.mu - 0.8338636418635216) < 1e-6)
        // impedance.py, add_cap=True: largest |real| 0.28107%, largest |imag| 0.57693%.
        #expect(abs(all.maxResidual - 0.0057693) < 2e-6)
        #expect(all.verdict == .valid)
        // Without the series capacitor the capacitive tail is left in the imaginary residuals (22.797%).
        let plain = try spectrum.linKK(LinKKOptions(seriesCapacitor: false))
        #expect(plain.elementCount == 22)
        #expect(abs(plain.maxResidual - 0.22797) < 1e-4)
        #expect(plain.verdict == .invalid)
    }

    /// impedance.py 1.7.1 `linKK(f, Z, c=0.85, max_M=50, fit_type, add_cap)` on its example spectrum,
    /// one row per point: Fixtures/impedancepy_linkk.csv, written by
    /// scripts/fixtures/impedancepy_linkk_reference.py.
    static func impedancePyReference() throws -> [String: (m: Int, mu: Double, residuals: [(Double, Double)])] {
        let text = String(decoding: try fixtureBytes("impedancepy_linkk.csv"), as: UTF8.self)
        var reference: [String: (m: Int, mu: Double, residuals: [(Double, Double)])] = [:]
        for line in text.split(separator: "\n").dropFirst(2) {
            let fields = line.split(separator: ",").map(String.init)
            let m = try #require(Int(fields[2])), mu = try #require(Double(fields[3]))
            let re = try #require(Double(fields[5])), im = try #require(Double(fields[6]))
            reference["\(fields[0]),\(fields[1])", default: (m, mu, [])].residuals.append((re, im))
        }
        return reference
    }

    @Test("every mode, with and without the series capacitor: M, μ and residuals as impedance.py's",
          arguments: LinKKMode.allCases, [false, true])
    func impedancePyModes(mode: LinKKMode, capacitor: Bool) throws {
        let reference = try #require(try Self.impedancePyReference()["\(mode.rawValue),\(capacitor ? 1 : 0)"])
        let spectrum = try fixtureSpectrum("impedancepy_exampleData.csv").spectrum
        let result = try spectrum.linKK(LinKKOptions(seriesCapacitor: capacitor, mode: mode))
        #expect(result.elementCount == reference.m)
        #expect(abs(result.mu - reference.mu) < 1e-6, "μ \(result.mu) vs \(reference.mu)")
        #expect(result.residuals.count == reference.residuals.count)
        // Residuals are relative to |Z|; 1e-6 is 0.0001% of |Z|.
        for (ours, theirs) in zip(result.residuals, reference.residuals) {
            #expect(abs(ours.real - theirs.0) < 1e-6 && abs(ours.imag - theirs.1) < 1e-6,
                    "f = \(ours.frequency) Hz: (\(ours.real), \(ours.imag)) vs (\(theirs.0), \(theirs.1))")
        }
    }

    /// On a single ideal arc μ dips below c at M = 4 and the test under-fits; impedance.py 1.7.1
    /// (add_cap=True) gives the same M, μ and residuals: M = 4, μ = 0.76587, 25.66% / 0.76652, 16.88%.
    @Test("single-arc spectra: same early stop as impedance.py", arguments: [
        ("R0-p(R1,CPE1)", [0.02, 0.05, 2, 0.85], 0.7658673701752318, 0.25659192096618955),
        ("R0-p(R1,C1)", [0.02, 0.05, 2], 0.7665151360304496, 0.1688239492214618),
    ])
    func singleArc(circuit text: String, parameters: [Double], mu: Double, maxRealResidual: Double) throws {
        let circuit = try Circuit(text)
        let spectrum = syntheticSpectrum(circuit, parameters, frequencies: logFrequencies(from: 1e4, to: 1e-2, count: 40), noise: 0)
        let result = try spectrum.linKK()
        #expect(result.elementCount == 4)
        #expect(abs(result.mu - mu) < 1e-6)
        let largestReal = result.residuals.map { abs($0.real) }.max() ?? 0
        #expect(abs(largestReal - maxRealResidual) < 1e-6)
    }

    @Test("a KK-consistent synthetic spectrum with 0.1% noise is valid")
    func validSpectrum() throws {
        let circuit = try Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
        let spectrum = syntheticSpectrum(circuit, [0.02, 0.03, 0.5, 0.85, 0.05, 20, 0.8],
                                         frequencies: logFrequencies(from: 1e4, to: 1e-2, count: 61), noise: 0.001)
        let result = try spectrum.linKK()
        #expect(result.verdict == .valid, "\(result.reason)")
        #expect(result.maxResidual < 0.005)
    }

    /// The cell's charge-transfer resistance drifts by 10% during a sweep from high to low
    /// frequency (as when the cell is still relaxing): each point is taken from a different system.
    @Test("a spectrum measured on a drifting cell is invalid")
    func driftingSpectrum() throws {
        let circuit = try Circuit("R0-p(R1,CPE1)")
        let frequencies = logFrequencies(from: 1e4, to: 1e-2, count: 61)
        let z = frequencies.enumerated().map { k, f in
            let drift = 1 + 0.10 * Double(k) / Double(frequencies.count - 1)
            return circuit.impedance(parameters: [0.02, 0.05 * drift, 2, 0.9], frequencies: [f])[0]
        }
        let result = try Spectrum(frequencies: frequencies, impedance: z).linKK()
        #expect(result.verdict == .invalid, "\(result.reason)")
        #expect(result.maxResidual > 0.01)
    }

    @Test("too few points or non-finite data say why")
    func failures() {
        #expect(throws: FitFailure.self) { try Spectrum(frequencies: [1, 2, 3], impedance: Array(repeating: Complex(1, -1), count: 3)).linKK() }
        #expect(throws: FitFailure.self) { try Spectrum(frequencies: [1, 2, 3, 4], impedance: [Complex(1, -1), Complex(.nan, 0), Complex(1, -1), Complex(1, -1)]).linKK() }
    }
}
