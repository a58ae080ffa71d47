import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Numerics
import Testing
@testable import Electrochem

/// `cellbench fit` and `cellbench kk` run as real processes on spectrum files.
@Suite(.timeLimit(.minutes(2))) struct ImpedanceVerbTests {
    /// The `cellbench` executable built beside this test bundle.
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cellbench")
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `cellbench` to completion off the concurrency pool; output goes through files, so
    /// neither pipe can fill up while the other is read.
    static func cellbench(_ arguments: [String], in directory: URL) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let out = directory.appendingPathComponent("stdout.txt"), err = directory.appendingPathComponent("stderr.txt")
                    for file in [out, err] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
                    let process = Process()
                    process.executableURL = executable
                    process.arguments = arguments
                    process.currentDirectoryURL = directory
                    process.standardOutput = try FileHandle(forWritingTo: out)
                    process.standardError = try FileHandle(forWritingTo: err)
                    try process.run()
                    process.waitUntilExit()
                    return Outcome(status: process.terminationStatus,
                                   stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                                   stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
                })
            }
        }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cellbench-verbs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes a spectrum as the spectrum CSV (with header) and returns its file name.
    @discardableResult
    static func write(_ spectrum: Spectrum, _ name: String, in directory: URL) throws -> String {
        var text = "frequency_hz,z_real_ohm,z_imag_ohm\n"
        for (f, z) in zip(spectrum.frequencies, spectrum.impedance) { text += "\(f),\(z.real),\(z.imaginary)\n" }
        try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        return name
    }

    static let circuit = "R0-p(R1,CPE1)-p(R2,CPE2)-W1"
    static let frequencies = logFrequencies(from: 1e4, to: 1e-2, count: 60)

    /// JSON of `fit --json`: one object per file.
    struct FitOutput: Decodable {
        var file: String
        var error: String?
        var analysis: SweepAnalysis?
    }

    @Test("fit: table and --json recover the parameters of exact synthetic spectra, several files, SVG plots")
    func fitSyntheticFiles() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let circuit = try Circuit(Self.circuit)
        let truths = ["a.csv": FitTests.benchTruth,
                      "b.csv": [0.02, 0.006, 8.0, 0.9, 0.03, 20.0, 0.8, 0.006]]
        for (name, truth) in truths {
            try Self.write(syntheticSpectrum(circuit, truth, frequencies: Self.frequencies, noise: 0), name, in: directory)
        }

        let json = try await Self.cellbench(["fit", "a.csv", "b.csv", "--circuit", Self.circuit, "--json", "--plot", "out.svg"], in: directory)
        #expect(json.status == 0, "\(json.stderr)")
        let outputs = try JSONDecoder().decode([FitOutput].self, from: Data(json.stdout.utf8))
        #expect(outputs.map(\.file) == ["a.csv", "b.csv"])
        for output in outputs {
            let truth = try #require(truths[output.file])
            let fit = try #require(output.analysis?.fit, "\(output.error ?? "no fit")")
            #expect(fit.parameters.map(\.name) == circuit.parameterNames)
            for (parameter, expected) in zip(fit.parameters, truth) {
                #expect(relativeError(parameter.value, expected) < 1e-6, "\(output.file) \(parameter.name): \(parameter.value) vs \(expected)")
            }
            #expect(output.analysis?.kk?.verdict == .valid)
            // One plot per file, named after it.
            let stem = (output.file as NSString).deletingPathExtension
            let svg = try Data(contentsOf: directory.appendingPathComponent("out-\(stem).svg"))
            try Self.checkPlot(svg, points: Self.frequencies.count)
        }

        let table = try await Self.cellbench(["fit", "a.csv", "--circuit", Self.circuit], in: directory)
        #expect(table.status == 0, "\(table.stderr)")
        // Rows "  NAME  VALUE  ERROR  UNIT"; values are printed with 5 significant digits.
        for (name, expected) in zip(circuit.parameterNames, FitTests.benchTruth) {
            let row = try #require(table.stdout.split(separator: "\n").first { $0.split(separator: " ").first.map(String.init) == name },
                                   "no row for \(name) in\n\(table.stdout)")
            let value = try #require(Double(String(row.split(separator: " ")[1])))
            #expect(relativeError(value, expected) < 1e-4, "\(name): \(row)")
        }
        #expect(table.stdout.contains("Lin-KK: valid"))
    }

    /// A well-formed SVG with a Nyquist panel and two Bode panels, each with every data point.
    static func checkPlot(_ data: Data, points: Int) throws {
        final class Elements: NSObject, XMLParserDelegate {
            var names: [String: Int] = [:]
            var root: String?
            var text = ""
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                if root == nil { root = name }
                names[name, default: 0] += 1
            }
            func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
        }
        let parser = XMLParser(data: data)
        let elements = Elements()
        parser.delegate = elements
        #expect(parser.parse(), "the SVG is not well-formed XML: \(String(describing: parser.parserError))")
        #expect(elements.root == "svg")
        #expect(elements.names["circle"] == 3 * points)
        #expect(elements.names["polyline"] == 3)
        for label in ["Re Z / Ω", "−Im Z / Ω", "log10 |Z| / Ω", "−phase / °"] {
            #expect(elements.text.contains(label), "missing axis label \(label)")
        }
    }

    @Test("fit: a malformed file gives its name and line on stderr and exit status 1; the other files are still fitted")
    func fitMalformedFile() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let circuit = try Circuit(Self.circuit)
        try Self.write(syntheticSpectrum(circuit, FitTests.benchTruth, frequencies: Self.frequencies, noise: 0), "good.csv", in: directory)
        try "frequency_hz,z_real_ohm,z_imag_ohm\n1000,0.02,-0.001\n100,0.025\n10,0.03,-0.004\n"
            .write(to: directory.appendingPathComponent("bad.csv"), atomically: true, encoding: .utf8)
        let run = try await Self.cellbench(["fit", "bad.csv", "good.csv", "--circuit", Self.circuit], in: directory)
        #expect(run.status == 1)
        #expect(run.stderr.contains("bad.csv:3"), "\(run.stderr)")
        #expect(run.stdout.contains("good.csv"))
        #expect(run.stdout.contains("Lin-KK: valid"))
    }

    @Test("fit --variant: the li-ion polish fits the named variant with its parameters fixed; a bad switch is refused")
    func fitVariant() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let variant = CircuitVariant(inductor: true, loop: false, arcs: 2, warburg: true)
        var generator = SyntheticSpectra(seed: 17, noise: 0.005...0.005)
        var spectrum = generator.next()
        while spectrum.variant != variant { spectrum = generator.next() }
        try Self.write(spectrum.spectrum, "cell.csv", in: directory)
        let run = try await Self.cellbench(["fit", "cell.csv", "--circuit", "li-ion", "--variant", "inductor,no-loop,arcs=2,warburg", "--json"],
                                           in: directory)
        #expect(run.status == 0, "\(run.stderr)")
        let output = try JSONDecoder().decode([FitOutput].self, from: Data(run.stdout.utf8))
        let inverse = try #require(output.first?.analysis?.inverse)
        #expect(inverse.network.variant == variant)
        let fixed = inverse.fit.parameters.filter(\.fixed).map(\.name).sorted()
        #expect(fixed == ["CPE1_1", "La1_1", "Zarc1_0", "Zarc1_1", "Zarc1_2", "Zarc4_0", "Zarc4_1", "Zarc4_2"])
        let table = try await Self.cellbench(["fit", "cell.csv", "--circuit", "li-ion", "--variant", "auto"], in: directory)
        #expect(table.stdout.contains("(chosen by auto)"), "\(table.stdout)")
        let bad = try await Self.cellbench(["fit", "cell.csv", "--circuit", "li-ion", "--variant", "arcs=4"], in: directory)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--variant: unknown switch 'arcs=4'"), "\(bad.stderr)")
    }

    struct KKOutput: Decodable {
        var file: String
        var error: String?
        var kk: LinKKResult?
    }

    /// The imaginary mode is left out: on this two-arc spectrum μ dips below c at M = 7 and the
    /// test under-fits (impedance.py gives the same M and a 7.3% residual on it without noise).
    @Test("kk: a consistent spectrum is valid (exit 0), one measured on a drifting cell is invalid (exit 1)",
          arguments: [LinKKMode.real, .complex])
    func kkVerdicts(mode: LinKKMode) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let circuit = try Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
        let parameters = [0.02, 0.03, 0.5, 0.85, 0.05, 20, 0.8]
        let frequencies = logFrequencies(from: 1e4, to: 1e-2, count: 61)
        try Self.write(syntheticSpectrum(circuit, parameters, frequencies: frequencies, noise: 0.001), "valid.csv", in: directory)
        // R1 of a single arc grows by 10% from the first point to the last (a cell still relaxing):
        // each point comes from a different system.
        let arc = try Circuit("R0-p(R1,CPE1)")
        let drifting = frequencies.enumerated().map { k, f in
            let drift = 1 + 0.10 * Double(k) / Double(frequencies.count - 1)
            return arc.impedance(parameters: [0.02, 0.05 * drift, 2, 0.9], frequencies: [f])[0]
        }
        try Self.write(Spectrum(frequencies: frequencies, impedance: drifting), "drift.csv", in: directory)

        let valid = try await Self.cellbench(["kk", "valid.csv", "--mode", mode.rawValue], in: directory)
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        #expect(valid.stdout.hasPrefix("valid.csv: Lin-KK: valid"))
        let both = try await Self.cellbench(["kk", "valid.csv", "drift.csv", "--mode", mode.rawValue, "--json"], in: directory)
        #expect(both.status == 1)
        let outputs = try JSONDecoder().decode([KKOutput].self, from: Data(both.stdout.utf8))
        #expect(outputs.map(\.file) == ["valid.csv", "drift.csv"])
        #expect(outputs.first?.kk?.verdict == .valid)
        let drift = try #require(outputs.last?.kk)
        #expect(drift.verdict == .invalid, "\(drift.reason)")
        #expect(drift.maxResidual > 0.01)
    }
}
