import BenchCore
import Numerics
import Synchronization

/// Settings of an in-process simulated bench: N virtual cells, each cycled
/// CC-CV on its own, sampled at a fixed rate, with an impedance sweep at the
/// start of every rest.
public struct SimulatedBenchSettings: Sendable, Hashable {
    /// Samples per channel per second of wall time.
    public var sampleRateHz: Double = 10
    /// Simulated seconds per wall second (1 = real time; 60 makes a 1C cycle last about 2 minutes).
    public var timeScale: Double = 1
    /// Standard deviation of the voltage measurement noise, V.
    public var voltageNoise: Double = 0.0005
    /// Relative noise on impedance points.
    public var impedanceNoise: Double = 0.002
    /// Sweep settings of the simulated analyzer.
    public var sweep = SweepSettings(startFrequency: 10_000, stopFrequency: 0.1, pointsPerDecade: 8)
    /// Seed of the noise generator, so runs are reproducible.
    public var seed: UInt64 = 1

    public init() {}
}

/// One simulated channel: a virtual cell with its program and counters.
public struct SimulatedChannel: Sendable {
    public let id: ChannelID
    public var cell: VirtualCell
    public var program: CyclingProgram
    public private(set) var nextSequence: UInt64 = 1
    public private(set) var nextSweep: UInt64 = 1

    /// - Parameter firstSequence: sequence number of the first sample (after a restart, one past the last stored).
    public init(id: ChannelID, cell: VirtualCell, program: CyclingProgram, firstSequence: UInt64 = 1) {
        self.id = id
        self.cell = cell
        self.program = program
        self.nextSequence = firstSequence
    }

    mutating func takeSequence() -> UInt64 { defer { nextSequence += 1 }; return nextSequence }
    mutating func takeSweep() -> UInt64 { defer { nextSweep += 1 }; return nextSweep }
}

/// Produces samples and sweeps of simulated channels into the bench streams.
///
/// Computation is light (a few floating-point operations per sample), so it
/// runs as an ordinary task that sleeps between ticks.
public struct SimulatedBench: Sendable {
    public let settings: SimulatedBenchSettings
    public private(set) var channels: [SimulatedChannel]
    /// Channels whose output was switched off by a safe-stop; shared by every copy of the bench.
    public let outputs = OutputSwitches()
    private var random: SplitMix64

    /// Channels start at staggered states of charge so that a demo shows all phases at once.
    /// `resumeAfter` gives, per channel, the last sequence number already stored, so that a
    /// restarted bench continues the numbering instead of repeating it.
    public init(channels ids: [(ChannelID, capacityAh: Double)], settings: SimulatedBenchSettings,
                resumeAfter: [ChannelID: UInt64] = [:]) {
        self.settings = settings
        self.random = SplitMix64(seed: settings.seed)
        self.channels = ids.enumerated().map { index, entry in
            var parameters = CellParameters()
            parameters.capacityAh = entry.capacityAh > 0 ? entry.capacityAh : parameters.capacityAh
            let soc = 0.15 + 0.7 * Double(index % 8) / 7
            let phase: CyclingProgram.Phase = index % 2 == 0 ? .chargeCC : .discharge
            return SimulatedChannel(id: entry.0, cell: VirtualCell(parameters: parameters, soc: soc),
                                    program: CyclingProgram(capacityAh: parameters.capacityAh, startIn: phase),
                                    firstSequence: (resumeAfter[entry.0] ?? 0) + 1)
        }
    }

    /// Advances every channel by one tick and publishes the results.
    public mutating func tick(into streams: BenchStreams, now: Timestamp) {
        let dt = settings.timeScale / settings.sampleRateHz
        let off = outputs.switchedOff
        for i in channels.indices {
            var (current, restBegan) = channels[i].program.nextCurrent(for: channels[i].cell)
            if off.contains(channels[i].id) { (current, restBegan) = (0, false) }
            channels[i].cell.step(current: current, dt: dt)
            let cell = channels[i].cell
            let sample = Sample(channel: channels[i].id, sequence: channels[i].takeSequence(), time: now,
                                instrumentTime: cell.time, voltage: cell.terminalVoltage + random.gaussian() * settings.voltageNoise,
                                current: current, temperature: cell.temperatureC, charge: cell.chargeAh)
            streams.samples.push(sample)
            if restBegan {
                streams.sweeps.push(sweep(channel: i, at: now))
            }
        }
    }

    /// An impedance sweep of channel `index` in its present state, with measurement noise.
    public mutating func sweep(channel index: Int, at now: Timestamp) -> Sweep {
        let s = settings.sweep
        let count = s.pointCount
        let cell = channels[index].cell
        let step = count > 1 ? Double.log10(s.stopFrequency / s.startFrequency) / Double(count - 1) : 0
        var points: [ImpedancePoint] = []
        points.reserveCapacity(count)
        for k in 0..<count {
            let f = s.startFrequency * Double.pow(10, Double(k) * step)
            let z = cell.impedance(frequency: f)
            let noise = settings.impedanceNoise * z.length
            points.append(ImpedancePoint(frequency: f, zReal: z.real + noise * random.gaussian(),
                                         zImag: z.imaginary + noise * random.gaussian(),
                                         dcVoltage: cell.terminalVoltage, dcCurrent: cell.current))
        }
        return Sweep(channel: channels[index].id, sequence: channels[index].takeSweep(), started: now, finished: now,
                     settings: s, points: points, status: .complete)
    }

    /// Runs until the task is cancelled, ticking at `sampleRateHz` of wall time.
    public static func run(_ bench: SimulatedBench, streams: BenchStreams) async {
        var bench = bench
        let period = Duration.nanoseconds(Int64(1e9 / bench.settings.sampleRateHz))
        let clock = ContinuousClock()
        var deadline = clock.now
        while !Task.isCancelled {
            bench.tick(into: streams, now: .now())
            deadline = deadline.advanced(by: period)
            // Fell far behind (machine suspended): resynchronise instead of bursting.
            if clock.now - deadline > period * 100 { deadline = clock.now }
            do { try await Task.sleep(until: deadline, clock: clock) } catch { break }
        }
    }
}

/// Which channels have their output switched off (safe-stopped): they carry no current until restarted.
public final class OutputSwitches: Sendable {
    private let off = Mutex<Set<ChannelID>>([])
    public init() {}
    public func switchOff(_ channel: ChannelID) { _ = off.withLock { $0.insert(channel) } }
    public var switchedOff: Set<ChannelID> { off.withLock { $0 } }
}

