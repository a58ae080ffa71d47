import BenchCore
import Synchronization

/// The `simulator` instrument kind: an in-process bench of virtual cells.
public final class SimulatedInstrument: AcquisitionSource {
    public let name: String
    private let bench: SimulatedBench
    private let link = Mutex(LinkStatus(state: .connecting))

    public init(name: String, channels: [(ChannelID, capacityAh: Double)], settings: SimulatedBenchSettings,
                resumeAfter: [ChannelID: UInt64] = [:]) {
        self.name = name
        self.bench = SimulatedBench(channels: channels, settings: settings, resumeAfter: resumeAfter)
    }

    public func run(streams: BenchStreams, watermarks: CommitWatermarks) async throws {
        link.withLock { $0 = LinkStatus(state: .up) }
        await SimulatedBench.run(bench, streams: streams)
        link.withLock { $0 = LinkStatus(state: .down, lastError: "stopped") }
    }

    public func linkStatus() -> LinkStatus { link.withLock { $0 } }
}
