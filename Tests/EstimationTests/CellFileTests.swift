import BenchCore
import ComplexModule
import Foundation
import Testing
import Fractional
@testable import Estimation

@Suite struct CellFileTests {
    static let example = """
        [cell]
        capacity_ah = 5.0
        ocv = "ocv.csv"          # soc,ocv_v table, path relative to this file; omitted means 0 V
        [model]
        r0_ohm = 0.0663
        [[model.branch]]         # R ∥ CPE:  Z = R / (1 + R·T·(jω)^alpha)
        r_ohm = 0.0179
        t = 3.42
        alpha = 0.633
        [model.warburg]          # Z = √2·σ / √(jω)
        sigma = 8.56e-6
        """

    func write(_ files: [String: String]) throws -> URL {
        let folder = try Fixture.temporaryFolder()
        for (name, text) in files { try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return folder
    }

    @Test func readsTheDocumentedExample() throws {
        let folder = try write(["cell.toml": Self.example, "ocv.csv": "# test table\nsoc,ocv_v\n0,3.0\n0.5,3.6\n1,4.2\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try CellFile.load(folder.appendingPathComponent("cell.toml").path)
        #expect(model.capacityAh == 5)
        #expect(model.seriesResistance == 0.0663)
        #expect(model.elements.count == 2)
        #expect(model.elements[0] == .parallelCPE(r: 0.0179, t: 3.42, alpha: 0.633))
        #expect(model.elements[1] == .warburg(sigma: 8.56e-6))
        #expect(abs(model.ocv.voltage(at: 0.75) - 3.9) < 1e-15)
    }

    @Test func ocvOmittedMeansZeroVolts() throws {
        let text = Self.example.replacingOccurrences(of: "ocv = \"ocv.csv\"", with: "")
        let folder = try write(["cell.toml": text])
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try CellFile.load(folder.appendingPathComponent("cell.toml").path)
        #expect(model.ocv.voltage(at: 0.3) == 0)
    }

    @Test func errorsNameFileKeyAndLine() throws {
        let text = Self.example.replacingOccurrences(of: "alpha = 0.633", with: "alpha = 1.5")
        let folder = try write(["cell.toml": text, "ocv.csv": "soc,ocv_v\n0,3\n1,4\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("cell.toml").path
        do {
            _ = try CellFile.load(path)
            Issue.record("alpha = 1.5 was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains(path + ":9"), "\(message)")
            #expect(message.contains("model.branch[0].alpha"), "\(message)")
        }
    }

    @Test func malformedOCVNamesLineAndColumn() throws {
        let folder = try write(["cell.toml": Self.example, "ocv.csv": "# c\nsoc,ocv_v\n0,3.0\n0.5,x3.6\n1,4.2\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try CellFile.load(folder.appendingPathComponent("cell.toml").path)
            Issue.record("malformed OCV table was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains("ocv.csv:4"), "\(message)")
            #expect(message.contains("ocv_v"), "\(message)")
        }
    }

    @Test func writtenFileReadsBack() throws {
        let model = CellModel(capacityAh: 2.5, seriesResistance: 0.02,
                              elements: [.parallelCPE(r: 0.01, t: 100, alpha: 0.7), .parallelCPE(r: 0.005, t: 2000, alpha: 1),
                                         .warburg(sigma: 1e-3)])
        let folder = try write(["cell.toml": CellFile.text(model, ocvPath: nil, comment: "test")])
        defer { try? FileManager.default.removeItem(at: folder) }
        let read = try CellFile.load(folder.appendingPathComponent("cell.toml").path)
        #expect(read.seriesResistance == model.seriesResistance)
        #expect(read.elements.count == 3)
        #expect(read.elements[0] == model.elements[0])
        if case let .diffusionCPE(q, beta) = read.elements[2], case let .diffusionCPE(q0, _) = model.elements[2] {
            #expect(abs(q / q0 - 1) < 1e-15 && beta == 0.5)
        } else {
            Issue.record("Warburg element lost")
        }
    }

    /// The model built from an impedance fit has exactly the fitted impedance
    /// Z = R0 + R/(1 + R·T·(jω)^α) + √2σ/√(jω), written out independently here.
    @Test func impedanceFitMapsToModel() throws {
        let fit = ImpedanceFitParameters(r0: 0.0663, branches: [.init(r: 0.0179, t: 3.42, alpha: 0.633)], warburgSigma: 8.56e-6)
        let model = try fit.cellModel(capacityAh: 5, ocv: .zero)
        for f in [0.01, 0.1, 1.0, 10.0, 1000.0] {
            let w = 2 * Double.pi * f
            let jwAlpha = Complex<Double>(pow(w, 0.633) * cos(0.633 * .pi / 2), pow(w, 0.633) * sin(0.633 * .pi / 2))
            let sqrtJw = Complex<Double>((w / 2).squareRoot(), (w / 2).squareRoot())
            let expected = Complex(0.0663, 0) + Complex(0.0179, 0) / (Complex(1, 0) + Complex(0.0179 * 3.42, 0) * jwAlpha)
                + Complex(Double(2).squareRoot() * 8.56e-6, 0) / sqrtJw
            var z = Complex(model.seriesResistance, 0)
            for element in model.elements { z += element.impedance(omega: w) }
            #expect((z - expected).length / expected.length < 1e-14, "f = \(f)")
        }
        #expect(throws: ImpedanceFitParameters.Failure.self) {
            _ = try ImpedanceFitParameters(r0: 0.01, branches: [.init(r: 0.01, t: 1, alpha: 1.2)]).cellModel(capacityAh: 1, ocv: .zero)
        }
    }

    /// A new impedance fit replaces the observer's model; SOC and σ carry over, and the
    /// estimate converts to the bench's `Estimate` record.
    @Test func observerAdoptsNewModel() throws {
        let ocv = try OCVTable(soc: [0, 1], voltage: [3.0, 4.2])
        let first = try ImpedanceFitParameters(r0: 0.03, branches: [.init(r: 0.01, t: 100, alpha: 0.7)]).cellModel(capacityAh: 3, ocv: ocv)
        var observer = try SOCObserver(model: first, method: .foekf, initialSOC: 0.5)
        var estimate = observer.consume(time: 0, current: 0, voltage: 3.6)
        for n in 1...100 { estimate = observer.consume(time: Double(n), current: -1, voltage: 3.6 - 0.04) }
        let second = try ImpedanceFitParameters(r0: 0.035, branches: [.init(r: 0.012, t: 90, alpha: 0.7)], warburgSigma: 1e-3)
            .cellModel(capacityAh: 3, ocv: ocv)
        try observer.adopt(model: second, at: estimate)
        let next = observer.consume(time: 101, current: -1, voltage: 3.56)
        #expect(observer.model == second)
        #expect(abs(next.soc - estimate.soc) < 0.01)
        let record = next.record(channel: ChannelID(3), time: Timestamp(monotonicNs: 101_000_000_000, wallNs: 0), method: .foekf)
        #expect(record.quantity == "soc" && record.value == next.soc && record.sigma == next.socSigma && record.source == "foekf")
    }
}
