import BenchCore
import Foundation
import Numerics
import Simulator
import Storage
import Testing

/// `cellbench health` and `cellbench modes` as built, against a store the test writes
/// through the daemon's batch writer from simulations whose truth it knows.
@Suite(.serialized) struct HealthCommandTests {
    struct HealthJSON: Decodable {
        struct Capacity: Decodable { var capacityAh: Double; var checkup: Bool; var method: String }
        var channel: String
        var capacities: [Capacity]
    }

    struct ModesJSON: Decodable {
        struct Sweep: Decodable { var sequence: UInt64; var activations: [Double] }
        struct Signature: Decodable { var realOhm: [Double]; var imaginaryOhm: [Double] }
        var rank: Int
        var frequenciesHz: [Double]
        var sweeps: [Sweep]
        var signatures: [Signature]
    }

    /// Writes 62 simulated hours of 1C cycling with a C/10 check-up every third cycle (channel A01),
    /// and 20 impedance sweeps whose change from the first is two known modes (channel E01).
    static func prepareStore(_ path: String) async throws -> [AgeingCellRun.Discharge] {
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks())
        let cycling = try writer.registerChannel(name: "A01", instrument: "bench", instrumentChannel: 0, ratedCapacityAh: 3)
        let impedance = try writer.registerChannel(name: "E01", instrument: "bench", instrumentChannel: 1, ratedCapacityAh: 3)
        writer.start()

        var run = AgeingCellRun(channel: cycling.id, ageing: CellAgeing(capacityLinearFadeAh: 0.01), startSOC: 0.5)
        run.checkup = (interval: 3, rate: 0.1)
        for _ in 0..<(62 * 3600 / 5) { streams.samples.push(run.step(dt: 5)) }
        for k in 0..<20 {
            let time = Timestamp(monotonicNs: Int64(k) * 86_400_000_000_000, wallNs: 1_700_000_000_000_000_000 + Int64(k) * 86_400_000_000_000)
            let points = frequencies.map { f in
                let z = reference(f) + change(k, f)
                return ImpedancePoint(frequency: f, zReal: z.real, zImag: z.imaginary, dcVoltage: 3.7, dcCurrent: 0)
            }
            streams.sweeps.push(Sweep(channel: impedance.id, sequence: UInt64(k + 1), started: time, finished: time,
                                      settings: SweepSettings(), points: points, status: .complete))
        }
        _ = try await writer.finish()
        return run.discharges
    }

    /// 10 points per decade from 10 kHz to 0.1 Hz: the grid `modes` reduces sweeps on.
    static let frequencies = (0...50).map { 10_000 * Double.pow(10, -Double($0) / 10) }

    static func arc(_ r: Double, _ tau: Double, _ f: Double) -> Complex<Double> {
        Complex(r) / Complex(1, 2 * .pi * f * tau)
    }
    static func reference(_ f: Double) -> Complex<Double> { Complex(0.02) + arc(0.01, 1e-3, f) + arc(0.015, 0.5, f) }
    /// Mode 0: series resistance growing by 1 mΩ; mode 1: a 3 mΩ arc at τ = 10 ms.
    static func signature(_ mode: Int, _ f: Double) -> Complex<Double> { mode == 0 ? Complex(0.001) : arc(0.003, 0.01, f) }
    /// Sweep 0 is the reference: both activations are zero there.
    static func activation(_ mode: Int, _ k: Int) -> Double {
        let x = Double(k) / 19
        return mode == 0 ? x : x * x * (1 - x) * 4
    }

    /// The true change of sweep `k` from the reference at `f`.
    static func change(_ k: Int, _ f: Double) -> Complex<Double> {
        Complex(activation(0, k)) * signature(0, f) + Complex(activation(1, k)) * signature(1, f)
    }

    @Test func healthTableJSONAndPlotFromAStore() async throws {
        let folder = NSTemporaryDirectory() + "cellbench-health-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = folder + "/bench.db"
        let discharges = try await Self.prepareStore(store)
        let cutoffs = ["--upper-voltage", "4.15", "--lower-voltage", "3.0"]

        let json = try await DaemonProcess.cellbench(["health", "A01", "--store", store, "--json"] + cutoffs)
        try #require(json.status == 0, "\(json.output)")
        let reports = try JSONDecoder().decode([HealthJSON].self, from: Data(json.output.utf8))
        let report = try #require(reports.first)
        // One capacity per discharge (the last one's rest may still be under way at the end of the data).
        try #require(report.capacities.count == discharges.count || report.capacities.count == discharges.count - 1,
                     "\(report.capacities.count) capacities, \(discharges.count) discharges")
        for (c, d) in zip(report.capacities, discharges) {
            // The store keeps what the simulator produced: the count is the simulator's own to rounding.
            #expect(abs(c.capacityAh - d.ah) < 1e-6, "\(c.capacityAh) Ah against \(d.ah) Ah")
            #expect(c.checkup == (abs(d.current) < 0.5) && c.method == "throughput")
        }
        let checkups = report.capacities.filter(\.checkup).count
        #expect(checkups == 2)

        let plot = folder + "/a01.svg"
        let table = try await DaemonProcess.cellbench(["health", "A01", "--store", store, "--plot", plot] + cutoffs)
        #expect(table.status == 0, "\(table.output)")
        let rows = table.output.split(separator: "\n").filter { $0.contains(" throughput") }
        #expect(rows.count == report.capacities.count)
        #expect(rows.filter { $0.contains("check-up") }.count == checkups, "\(table.output)")
        #expect(table.output.contains("fade model: Q ="), "enough regular capacities for the fade model: \(table.output)")
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline"))
        #expect(svg.components(separatedBy: "class=\"checkup\"").count - 1 == checkups)
        #expect(svg.components(separatedBy: "class=\"regular\"").count - 1 == report.capacities.count - checkups)

        let summary = try await DaemonProcess.cellbench(["health", "--store", store] + cutoffs)
        #expect(summary.status == 0 && summary.output.contains("A01") && summary.output.contains("check-up/Ah"), "\(summary.output)")
    }

    @Test func modesRecoverTheKnownChangeAndSaveTheActivations() async throws {
        let folder = NSTemporaryDirectory() + "cellbench-modes-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = folder + "/bench.db"
        _ = try await Self.prepareStore(store)

        let result = try await DaemonProcess.cellbench(["modes", "E01", "--store", store, "--rank", "2", "--save", "--json"])
        try #require(result.status == 0, "\(result.output)")
        let modes = try JSONDecoder().decode(ModesJSON.self, from: Data(result.output.utf8))
        #expect(modes.rank == 2 && modes.sweeps.count == 19)
        // Activations times signatures give back each sweep's change from the first, on the grid:
        // within 1 % of the largest change (no noise was added; the factorisation is exact to rounding here).
        var largest = 0.0, worst = 0.0
        for sweep in modes.sweeps {
            let k = Int(sweep.sequence) - 1
            for (j, f) in modes.frequenciesHz.enumerated() {
                let truth = Self.change(k, f)
                let re = zip(sweep.activations, modes.signatures).reduce(0) { $0 + $1.0 * $1.1.realOhm[j] }
                let im = zip(sweep.activations, modes.signatures).reduce(0) { $0 + $1.0 * $1.1.imaginaryOhm[j] }
                largest = max(largest, truth.length)
                worst = max(worst, (Complex(re, im) - truth).length)
            }
        }
        #expect(largest > 0.002 && worst < 0.01 * largest, "worst reconstruction error \(worst) Ω of \(largest) Ω")

        // --save wrote the activations as estimates mode.1 and mode.2, one per sweep.
        let reader = try StoreReader(path: store)
        let channel = try reader.channel(named: "E01")
        for mode in 1...2 {
            let saved = try reader.estimates(channel: channel.id, quantity: "mode.\(mode)", limit: 1000)
            #expect(saved.map(\.value) == modes.sweeps.map { $0.activations[mode - 1] } && saved.allSatisfy { $0.source == "nmf" })
        }
    }
}
