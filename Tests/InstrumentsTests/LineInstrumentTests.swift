import BenchCore
import Foundation
import Instruments
import Simulator
import Testing

/// The analyzer and galvanostat drivers against the simulated instruments over real pseudo-terminals.
@Suite("Serial line drivers", .serialized)
struct LineInstrumentTests {
    static func definition(_ file: String) throws -> LineProtocolDefinition {
        guard case .line(let d) = try DriverDefinition.load(path: Repository.driver(file)).body else {
            throw InstrumentError.configuration("\(file) is not a line driver")
        }
        return d
    }

    static func temporaryLink(_ name: String) -> String {
        "\(NSTemporaryDirectory())cellbench-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    // Cell impedance from the virtual cell's own model gives the expected values.
    static let sweep = SweepSettings(startFrequency: 1000, stopFrequency: 10, pointsPerDecade: 5, cyclesPerPoint: 1)

    func withAnalyzer(_ sim: SimulatedAnalyzer, _ body: (AnalyzerDriver, BenchStreams) async throws -> Void) async throws {
        let line = SerialLine(address: .path(sim.path))
        let driver = AnalyzerDriver(name: "fra", definition: try Self.definition("reference-fra.toml"), line: line, channel: ChannelID(7),
                                    pollInterval: 0.02, backoff: Backoff(initial: 0.1, maximum: 0.3), logger: testLogger)
        let streams = BenchStreams()
        _ = try await withRunning(driver, streams: streams) { try await body(driver, streams) }
        await line.shutdown()
    }

    @Test("A sweep streams its points live and is stored whole; values are the cell's impedance")
    func sweep() async throws {
        let cell = VirtualCell()
        let sim = try SimulatedAnalyzer(cell: cell, timeScale: 20)
        defer { sim.stop() }
        try await withAnalyzer(sim) { driver, streams in
            let live = LockedPoints()
            let sweep = try await driver.measure(Self.sweep) { point, index, total in live.append(point, index, total) }
            #expect(sweep.status == .complete)
            #expect(sweep.points.count == 11)
            #expect(live.indices == Array(0..<11) && live.totals.allSatisfy { $0 == 11 })
            for point in sweep.points {
                let z = cell.impedance(frequency: point.frequency)
                // NR3 with 7 significant digits: relative error below 1e-6.
                #expect(abs(point.zReal - z.real) <= 1e-6 * abs(z.real))
                #expect(abs(point.zImag - z.imaginary) <= 1e-6 * abs(z.imaginary) + 1e-12)
            }
            #expect(abs(sweep.points[0].frequency - 1000) < 1e-3 && abs(sweep.points[10].frequency - 10) < 1e-5)
            var cursor = streams.sweeps.makeCursor(at: .oldest)
            var stored: [Sweep] = []
            streams.sweeps.read(&cursor, into: &stored)
            #expect(stored.count == 1 && stored.first?.points == sweep.points && stored.first?.channel == ChannelID(7))
        }
    }

    @Test("Lost replies, truncated lines and garbage before replies are survived")
    func faults() async throws {
        let sim = try SimulatedAnalyzer(timeScale: 20)
        defer { sim.stop() }
        try await withAnalyzer(sim) { driver, streams in
            // Each query is tried three times: one lost reply, one cut short, then one behind garbage.
            sim.inject { $0.dropReplies = 1; $0.truncateReplies = 1; $0.garbageBeforeReplies = 3 }
            let sweep = try await driver.measure(Self.sweep)
            #expect(sweep.status == .complete && sweep.points.count == 11)
            #expect(driver.linkStatus().state == .up)
        }
    }

    @Test("An instrument reset mid-sweep stores the sweep marked aborted, with its points")
    func resetMidSweep() async throws {
        let sim = try SimulatedAnalyzer(timeScale: 1)
        defer { sim.stop() }
        try await withAnalyzer(sim) { driver, streams in
            let slow = SweepSettings(startFrequency: 1000, stopFrequency: 0.1, pointsPerDecade: 5, cyclesPerPoint: 2)
            let live = LockedPoints()
            let measuring = Task { try await driver.measure(slow) { point, index, total in live.append(point, index, total) } }
            let progressed = try await eventually(5) { live.indices.count >= 3 }
            #expect(progressed)
            sim.powerCycle()
            await #expect(throws: InstrumentError.self) { _ = try await measuring.value }
            var cursor = streams.sweeps.makeCursor(at: .oldest)
            var stored: [Sweep] = []
            streams.sweeps.read(&cursor, into: &stored)
            #expect(stored.count == 1 && stored.first?.status == .aborted && (stored.first?.points.count ?? 0) >= 3)
            #expect(events(streams).contains { $0.kind == "sweep-aborted" })
        }
    }

    @Test("A device node that vanishes and comes back under the same path: link lost, then restored")
    func unplug() async throws {
        let link = Self.temporaryLink("fra")
        let sim = try SimulatedAnalyzer(timeScale: 20, link: link)
        defer { sim.stop() }
        try await withAnalyzer(sim) { driver, streams in
            sim.unplug()
            try await expectEventually(5) { driver.linkStatus().state == .down }
            try await Task.sleep(for: .milliseconds(500))
            try sim.replug()
            try await expectEventually(5) { driver.linkStatus().state == .up }
            let kinds = events(streams).map(\.kind)
            #expect(kinds.contains("link-lost") && kinds.contains("link-restored"))
            #expect(try await driver.measure(Self.sweep).status == .complete)
        }
    }

    func withGalvanostat(_ sim: SimulatedGalvanostat, watchdog: Double = 2,
                         _ body: (GalvanostatDriver, BenchStreams) async throws -> Void) async throws -> [Sample] {
        let line = SerialLine(address: .path(sim.path))
        let limits = ProtectionLimits(voltageHigh: 4.25, voltageLow: 2.8, current: 3, temperature: 55)
        let driver = GalvanostatDriver(name: "dc", definition: try Self.definition("reference-dc.toml"), line: line, channel: ChannelID(3),
                                       protection: limits, watchdog: watchdog, recordInterval: 0.05,
                                       backoff: Backoff(initial: 0.1, maximum: 0.3), logger: testLogger)
        let streams = BenchStreams()
        let samples = try await withRunning(driver, streams: streams) { try await body(driver, streams) }
        await line.shutdown()
        return samples
    }

    @Test("Galvanostat: source control, readings with the sign convention, restart noticed")
    func galvanostat() async throws {
        let sim = try SimulatedGalvanostat()
        defer { sim.stop() }
        let samples = try await withGalvanostat(sim) { driver, streams in
            try await driver.apply(.constantCurrent(current: -0.5))
            try await expectEventually(5) { streams.samples.written >= 10 }
            sim.powerCycle()
            try await expectEventually(5) { events(streams).contains { $0.kind == "gap" } }
            let before = streams.samples.written
            try await expectEventually(5) { streams.samples.written >= before + 5 }
        }
        let s = samples.map(\.sequence)
        #expect(zip(s, s.dropFirst()).allSatisfy { $0 < $1 })
        // Discharging at 0.5 A reads negative; after the power cycle the driver restored the source.
        #expect(samples.dropFirst(3).contains { abs($0.current + 0.5) < 1e-6 })
        #expect(samples.last.map { abs($0.current + 0.5) < 1e-6 } == true)
        #expect(s.last.map { $0 >> 32 } == 1)
    }

    @Test("Galvanostat watchdog: fed while the daemon runs, trips by itself when it stops")
    func galvanostatWatchdog() async throws {
        let sim = try SimulatedGalvanostat()
        defer { sim.stop() }
        _ = try await withGalvanostat(sim, watchdog: 1) { driver, _ in
            try await driver.apply(.constantCurrent(current: 0.5))
            try await Task.sleep(for: .seconds(1.5))
            #expect(sim.trip.code == 0 && sim.trip.outputOn)
        }
        try await Task.sleep(for: .seconds(1.5))
        #expect(sim.trip.code == 5 && !sim.trip.outputOn, "\(sim.trip)")
    }
}

/// Points seen live, from the analyzer's callback.
final class LockedPoints: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [(Int, Int)] = []
    func append(_ point: ImpedancePoint, _ index: Int, _ total: Int) {
        lock.lock(); defer { lock.unlock() }
        seen.append((index, total))
    }
    var indices: [Int] { lock.lock(); defer { lock.unlock() }; return seen.map(\.0) }
    var totals: [Int] { lock.lock(); defer { lock.unlock() }; return seen.map(\.1) }
}
