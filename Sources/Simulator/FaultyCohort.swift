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
    private let initial: [CellParameters]
    private var random: SplitMix64
    private static let wallStartNs: Int64 = 1_800_000_000_000_000_000

    public init(cellCount: Int, faults: [ChannelID: CellFault], onset: Double, step: Double = 10,
                restSeconds: Double = 7200, seed: UInt64 = 1) {
        self.faults = faults
        self.onset = onset
        self.step = step
        var random = SplitMix64(seed: seed)
        var parameters: [CellParameters] = []
        channels = (0..<cellCount).map { i in
            var p = CellParameters()
            p.capacityAh *= 1 + 0.02 * (2 * random.uniform() - 1)
            p.r0Ohm *= 1 + 0.03 * (2 * random.uniform() - 1)
            parameters.append(p)
            return SimulatedChannel(id: ChannelID(i), cell: VirtualCell(parameters: p, soc: 0.5),
                                    program: CyclingProgram(capacityAh: p.capacityAh, restSeconds: restSeconds))
        }
        initial = parameters
        self.random = random
    }

    /// The static description of every channel (named `C01`, `C02`, …; rated 3 Ah).
    public var channelInfos: [ChannelInfo] {
        channels.map { c in
            ChannelInfo(id: c.id, name: "C" + (c.id.rawValue < 9 ? "0" : "") + "\(c.id.rawValue + 1)", instrument: "cohort",
                        instrumentChannel: Int(c.id.rawValue), ratedCapacityAh: 3)
        }
    }

    /// Timestamp of simulated time `t`.
    public static func timestamp(_ t: Double) -> Timestamp {
        let ns = Int64((t * 1e9).rounded())
        return Timestamp(monotonicNs: ns, wallNs: wallStartNs + ns)
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
            let temperature = fault == .sensorDropout ? .nan : cell.temperatureC + 0.02 * random.gaussian()
            samples.append(Sample(channel: channels[i].id, sequence: channels[i].takeSequence(), time: Self.timestamp(time),
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
        case .looseContact?, .sensorDropout?, nil: break
        }
    }
}
