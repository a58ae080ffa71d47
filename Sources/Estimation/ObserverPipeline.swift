import BenchCore
import Fractional

/// Runs the SOC observer of every channel that has a cell model, online.
///
/// Every sample goes through its channel's observer; the estimates are
/// published at most once per `publishInterval` per channel (SOC with its σ as
/// `soc`, and the measured minus predicted voltage as `innovation` with the σ
/// the filter expected, which the alarm engine's innovation rule watches), so
/// the store and subscribers are not flooded at high sample rates.
/// Models posted to `modelUpdates` (from the bench's own impedance fits) are
/// adopted before the next samples, each announced by an `observer-model`
/// event (or `observer-model-rejected` when the observer cannot run it).
public struct ObserverPipeline: Sendable {
    let observers: [ChannelID: SOCObserver]
    let publishInterval: Double
    let modelUpdates: ObserverModelUpdates?

    public init(observers: [ChannelID: SOCObserver], publishIntervalSeconds: Double = 1, modelUpdates: ObserverModelUpdates? = nil) {
        self.observers = observers
        self.publishInterval = publishIntervalSeconds
        self.modelUpdates = modelUpdates
    }

    /// Follows the sample ring until cancelled or closed.
    public func run(streams: BenchStreams) async {
        guard !observers.isEmpty else { return }
        var running = observers
        var lastPublished: [ChannelID: Double] = [:]
        var cursor = streams.samples.makeCursor()
        var samples: [Sample] = []
        samples.reserveCapacity(1024)
        while true {
            if let modelUpdates { Self.adopt(modelUpdates.takeAll(), into: &running, streams: streams) }
            streams.samples.read(&cursor, into: &samples, maximum: 1024)
            for sample in samples where sample.voltage.isFinite && sample.current.isFinite {
                guard var observer = running[sample.channel] else { continue }
                running[sample.channel] = nil  // keep the observer uniquely referenced while it updates
                let estimate = observer.consume(sample)
                let method = observer.method
                running[sample.channel] = observer
                let now = sample.time.monotonicSeconds
                if let last = lastPublished[sample.channel], now - last < publishInterval { continue }
                lastPublished[sample.channel] = now
                streams.estimates.push(estimate.record(channel: sample.channel, time: sample.time, method: method))
                streams.estimates.push(Estimate(channel: sample.channel, time: sample.time, quantity: "innovation",
                                                value: sample.voltage - estimate.predictedVoltage,
                                                sigma: estimate.innovationSigma, source: method.rawValue))
            }
            if samples.isEmpty {
                if streams.samples.isClosed || Task.isCancelled { return }
                await streams.samples.waitForData(after: cursor)
            }
        }
    }

    static func adopt(_ updates: [ChannelID: ObserverModelUpdates.Update], into running: inout [ChannelID: SOCObserver],
                      streams: BenchStreams) {
        for (channel, update) in updates {
            guard var observer = running[channel] else { continue }
            let model = update.model
            do {
                try observer.adopt(model: model)
                running[channel] = observer
                let branches = model.elements.map { element -> String in
                    switch element {
                    case let .parallelCPE(r, t, alpha): "R ∥ CPE (R \(r) Ω, T \(t), α \(alpha))"
                    case let .diffusionCPE(q, beta): "diffusion (Q \(q), β \(beta))"
                    }
                }
                streams.events.push(BenchEvent(channel: channel, severity: .info, kind: "observer-model",
                                               message: "\(update.origin): observer \(observer.method.rawValue) now runs the fitted model: R0 \(model.seriesResistance) Ω, "
                                                   + branches.joined(separator: ", ")))
            } catch {
                streams.events.push(BenchEvent(channel: channel, severity: .warning, kind: "observer-model-rejected",
                                               message: "\(update.origin): observer keeps its model: \(error)"))
            }
        }
    }
}
