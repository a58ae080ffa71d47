import BenchCore
import ServiceLifecycle
import Synchronization

/// Latest values per channel for `status`, kept by a consumer of the rings.
final class LiveView: Sendable {
    private struct State {
        var latest: [ChannelID: Sample] = [:]
        var soc: [ChannelID: Double] = [:]
    }
    private let state = Mutex(State())
    private let streams: BenchStreams

    init(streams: BenchStreams) { self.streams = streams }

    func latest(_ channel: ChannelID) -> Sample? { state.withLock { $0.latest[channel] } }
    func soc(_ channel: ChannelID) -> Double? { state.withLock { $0.soc[channel] } }

    /// Follows the sample and estimate rings until cancelled or closed.
    func follow() async {
        var samples = streams.samples.makeCursor()
        var estimates = streams.estimates.makeCursor()
        var sampleBuffer: [Sample] = []
        var estimateBuffer: [Estimate] = []
        sampleBuffer.reserveCapacity(1024)
        while !Task.isCancelled {
            streams.samples.read(&samples, into: &sampleBuffer, maximum: 1024)
            streams.estimates.read(&estimates, into: &estimateBuffer, maximum: 1024)
            if !sampleBuffer.isEmpty || !estimateBuffer.isEmpty {
                state.withLock { s in
                    for sample in sampleBuffer { s.latest[sample.channel] = sample }
                    for e in estimateBuffer where e.quantity == "soc" { s.soc[e.channel] = e.value }
                }
                continue
            }
            if streams.samples.isClosed { return }
            await streams.samples.waitForData(after: samples)
        }
    }
}

/// Runs a ring consumer until graceful shutdown. A consumer with nothing to do
/// (no channel has a cell file, say) returns at once; the service then simply
/// waits, because a service that ends early stops the whole daemon.
struct ConsumerService: Service {
    let name: String
    let body: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
        try? await gracefulShutdown()
    }
}
