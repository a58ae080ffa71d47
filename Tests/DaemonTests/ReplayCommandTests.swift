import Foundation
import Testing

/// `cellbench replay` as a real process: the considered model errors widen the σ column only.
@Suite(.timeLimit(.minutes(2))) struct ReplayCommandTests {
    static let panasonic = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EstimationTests/Fixtures/panasonic")

    @Test func sigmaOptionsWidenTheSigmaAndKeepTheEstimates() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cellbench-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let common = ["replay", "--cell", Self.panasonic.appendingPathComponent("cell_fractional.toml").path,
                      "--recording", Self.panasonic.appendingPathComponent("drive_us06_25C.csv").path, "--initial-soc", "0.8"]
        let plain = folder.appendingPathComponent("plain.csv").path, widened = folder.appendingPathComponent("widened.csv").path
        let first = try await DaemonProcess.cellbench(common + ["--out", plain])
        let second = try await DaemonProcess.cellbench(common + ["--out", widened, "--ocv-sigma", "0.0057", "--resistance-sigma", "0.002"])
        #expect(first.status == 0 && second.status == 0, "\(first.output) \(second.output)")
        let a = try Self.socAndSigma(plain), b = try Self.socAndSigma(widened)
        #expect(a.count == 4818 && a.map(\.soc) == b.map(\.soc))
        // After the first corrections each σ is wider: the considered errors add a few 0.1 % of SOC.
        let wider = zip(a, b).dropFirst(300).allSatisfy { $1.sigma > $0.sigma + 1e-3 }
        #expect(wider)

        let rejected = try await DaemonProcess.cellbench(common + ["--out", plain, "--resistance-sigma=-0.001"])
        #expect(rejected.status != 0 && rejected.output.contains("--resistance-sigma must be ≥ 0"), "\(rejected.output)")
    }

    /// The `soc` and `soc_sigma` columns of a replay output (`time_s,soc,soc_sigma,voltage_pred_v`).
    static func socAndSigma(_ path: String) throws -> [(soc: Double, sigma: Double)] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "time_s,soc,soc_sigma,voltage_pred_v")
        return lines.dropFirst().map { line in
            let fields = line.split(separator: ",")
            return (Double(fields[1]) ?? .nan, Double(fields[2]) ?? .nan)
        }
    }
}
