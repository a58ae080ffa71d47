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

    /// Stops the channel's current and keeps its output off, as the real instruments' safe-stop does.
    public func safeStop(channel: ChannelID) async throws {
        guard bench.channels.contains(where: { $0.id == channel }) else {
            throw UnknownSimulatedChannel(description: "instrument \(name) has no channel \(channel)")
        }
        bench.outputs.switchOff(channel)
    }

    /// Channels safe-stopped so far.
    public var stoppedChannels: Set<ChannelID> { bench.outputs.switchedOff }
}

/// A safe-stop for a channel the simulated instrument does not have.
public struct UnknownSimulatedChannel: Error, CustomStringConvertible {
    public let description: String
}
