import BenchCore

/// A fault injected into one virtual cell of a cohort from its onset on.
public enum CellFault: String, Sendable, CaseIterable {
    /// Leakage of 100 Ω across the cell: abnormal self-discharge.
    case internalShort = "internal-short"
    /// Series resistance growing by 1 % of its initial value per hour.
    case resistanceGrowth = "resistance-growth"
    /// Capacity shrinking by 0.2 % of its initial value per hour, down to half of it.
    case capacityFade = "capacity-fade"
    /// 3 W of heat released inside the cell.
    case thermalEvent = "thermal-event"
    /// 10 mV rms of noise on the voltage reading.
    case looseContact = "loose-contact"
    /// The temperature sensor reads nothing.
    case sensorDropout = "sensor-dropout"
    /// The voltage reading jumps 0.2 V high (a failing sense connection or voltage sensor):
    /// what the observer's innovation rule is meant to catch.
    case voltageOffset = "voltage-offset"
}

/// A cohort of like cells cycled CC-CV with long rests, simulated faster than
/// real time, some with injected faults. Healthy cells differ by a small
/// manufacturing spread (±2 % capacity, ±3 % resistance).
public struct FaultyCohort: Sendable {
    public let faults: [ChannelID: CellFault]
    /// Simulated time at which faults begin, s.
    public let onset: Double
    /// Seconds between samples.
    public let step: Double
    public private(set) var channels: [SimulatedChannel]
    /// Simulated time since the start, s.
    public private(set) var time: Double = 0
    /// Timestamp of simulated time 0.
    public let start: Timestamp
    private let initial: [CellParameters]
    private var random: SplitMix64
    /// Simulated time 0 of a cohort given no start: a fixed instant, so runs are reproducible.
    public static let fixedStart = Timestamp(monotonicNs: 0, wallNs: 1_800_000_000_000_000_000)

    /// - Parameters:
    ///   - ids: the channels, one cell each; `firstSequence` gives a channel's first sample number (default 1).
    ///   - start: timestamp of simulated time 0.
    public init(channels ids: [ChannelID], faults: [ChannelID: CellFault], onset: Double, step: Double = 10,
                restSeconds: Double = 7200, seed: UInt64 = 1, start: Timestamp = fixedStart,
                firstSequence: [ChannelID: UInt64] = [:]) {
        self.faults = faults
        self.onset = onset
        self.step = step
        self.start = start
        var random = SplitMix64(seed: seed)
        var parameters: [CellParameters] = []
        channels = ids.map { id in
            var p = CellParameters()
            p.capacityAh *= 1 + 0.02 * (2 * random.uniform() - 1)
            p.r0Ohm *= 1 + 0.03 * (2 * random.uniform() - 1)
            parameters.append(p)
            return SimulatedChannel(id: id, cell: VirtualCell(parameters: p, soc: 0.5),
                                    program: CyclingProgram(capacityAh: p.capacityAh, restSeconds: restSeconds),
                                    firstSequence: firstSequence[id] ?? 1)
        }
        initial = parameters
        self.random = random
    }

    /// Cells on channels 0…cellCount−1.
    public init(cellCount: Int, faults: [ChannelID: CellFault], onset: Double, step: Double = 10,
                restSeconds: Double = 7200, seed: UInt64 = 1) {
        self.init(channels: (0..<cellCount).map(ChannelID.init), faults: faults, onset: onset, step: step,
                  restSeconds: restSeconds, seed: seed)
    }

    /// The static description of every channel (named `C01`, `C02`, …; rated 3 Ah).
    public var channelInfos: [ChannelInfo] {
        channels.map { c in
            ChannelInfo(id: c.id, name: "C" + (c.id.rawValue < 9 ? "0" : "") + "\(c.id.rawValue + 1)", instrument: "cohort",
                        instrumentChannel: Int(c.id.rawValue), ratedCapacityAh: 3)
        }
    }

    /// Timestamp of simulated time `t`.
    public func timestamp(_ t: Double) -> Timestamp {
        let ns = Int64((t * 1e9).rounded())
        return Timestamp(monotonicNs: start.monotonicNs + ns, wallNs: start.wallNs + ns)
    }

    /// Advances every cell by one step and appends one sample per cell to `samples`.
    public mutating func advance(into samples: inout [Sample]) {
        time += step
        let hours = max(0, time - onset) / 3600
        for i in channels.indices {
            let fault = time >= onset ? faults[channels[i].id] : nil
            applyDrift(fault, to: i, hours: hours)
            let (current, _) = channels[i].program.nextCurrent(for: channels[i].cell)
            channels[i].cell.step(current: current, dt: step)
            let cell = channels[i].cell
            var voltage = cell.terminalVoltage + 0.0003 * random.gaussian()
            if fault == .looseContact { voltage += 0.01 * random.gaussian() }
            if fault == .voltageOffset { voltage += 0.2 }
            let temperature = fault == .sensorDropout ? .nan : cell.temperatureC + 0.02 * random.gaussian()
            samples.append(Sample(channel: channels[i].id, sequence: channels[i].takeSequence(), time: timestamp(time),
                                  instrumentTime: time, voltage: voltage, current: current, temperature: temperature,
                                  charge: cell.chargeAh))
        }
    }

    private mutating func applyDrift(_ fault: CellFault?, to i: Int, hours: Double) {
        switch fault {
        case .internalShort?: channels[i].cell.parameters.leakageOhm = 100
        case .resistanceGrowth?: channels[i].cell.parameters.r0Ohm = initial[i].r0Ohm * (1 + 0.01 * hours)
        case .capacityFade?: channels[i].cell.parameters.capacityAh = initial[i].capacityAh * max(0.5, 1 - 0.002 * hours)
        case .thermalEvent?: channels[i].cell.parameters.internalHeatW = 3
        case .looseContact?, .sensorDropout?, .voltageOffset?, nil: break
        }
    }
}
