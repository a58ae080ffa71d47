import BenchCore

/// Runs the `HealthTracker` of every channel online: follows the sample ring,
/// takes the observer's `soc`/`soc_sigma` and the fits' `fit.R…` from the
/// estimate ring, and pushes the health estimates to the estimate ring.
public struct HealthPipeline: Sendable {
    let trackers: [ChannelID: HealthTracker]

    public init(trackers: [HealthTracker]) {
        self.trackers = Dictionary(trackers.map { ($0.channel, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Follows the rings until cancelled or the sample ring is closed.
    public func run(streams: BenchStreams) async {
        guard !trackers.isEmpty else { return }
        var running = trackers
        var sampleCursor = streams.samples.makeCursor(), estimateCursor = streams.estimates.makeCursor()
        var samples: [Sample] = [], inputs: [Estimate] = []
        samples.reserveCapacity(1024)
        let publish: (Estimate) -> Void = { streams.estimates.push($0) }
        while true {
            streams.estimates.read(&estimateCursor, into: &inputs, maximum: 1024)
            for estimate in inputs where estimate.quantity.hasPrefix("soc") || estimate.quantity.hasPrefix("fit.R") {
                guard var tracker = running[estimate.channel] else { continue }
                running[estimate.channel] = nil  // keep the tracker uniquely referenced while it updates
                tracker.consume(estimate, emit: publish)
                running[estimate.channel] = tracker
            }
            if streams.samples.read(&sampleCursor, into: &samples, maximum: 1024) > 0 {
                // Samples were overwritten before being read: the charge counts are broken.
                for channel in Array(running.keys) { running[channel]?.breakCount() }
            }
            for sample in samples {
                guard var tracker = running[sample.channel] else { continue }
                running[sample.channel] = nil
                tracker.consume(sample, emit: publish)
                running[sample.channel] = tracker
            }
            if samples.isEmpty {
                if streams.samples.isClosed || Task.isCancelled { return }
                await streams.samples.waitForData(after: sampleCursor)
            }
        }
    }
}
