import BenchCore
import Dispatch
import Electrochem

/// A completed sweep with its Kramers–Kronig check and circuit fit.
public struct AnalyzedSweep: Sendable {
    public var channel: ChannelID
    public var sweepSequence: UInt64
    public var analysis: SweepAnalysis
}

/// Checks (Lin-KK) and fits every completed sweep to the circuit configured
/// for its channel, online. Results become estimates (`fit.<parameter>` with
/// the standard error as σ, `fit.rmse`, `kk.mu`, `kk.max_residual`; for fits
/// through the inverse model also `inverse.residual`, `inverse.network_residual`
/// and the uncertainty signal `inverse.shift`), failures become events
/// (`kk-failed`, `fit-failed`, `data-quality` for a residual beyond the proper-fit
/// limit), and the whole analysis, with the network's and the polished
/// parameters, is handed to `deliver` to be stored with the sweep.
public struct SweepAnalysisPipeline: Sendable {
    let analyzers: [ChannelID: SweepAnalyzer]
    /// Fitting is CPU-bound: it runs on its own queue, off the cooperative pool.
    let queue = DispatchQueue(label: "cellbench.sweep-analysis")

    public init(analyzers: [ChannelID: SweepAnalyzer]) {
        self.analyzers = analyzers
    }

    /// Follows the sweep ring until cancelled or closed; on cancellation it first
    /// analyses the sweeps already waiting, so none taken before shutdown is skipped.
    public func run(streams: BenchStreams, channelNames: [ChannelID: String],
                    deliver: @escaping @Sendable (AnalyzedSweep) -> Void) async {
        var cursor = streams.sweeps.makeCursor()
        var sweeps: [Sweep] = []
        while true {
            streams.sweeps.read(&cursor, into: &sweeps)
            for sweep in sweeps where sweep.status == .complete {
                guard let analyzer = analyzers[sweep.channel] else { continue }
                let analysis = await withCheckedContinuation { continuation in
                    queue.async { continuation.resume(returning: analyzer.analyze(sweep)) }
                }
                let name = channelNames[sweep.channel] ?? sweep.channel.description
                let now = Timestamp.now()
                for estimate in Self.estimates(from: analysis, channel: sweep.channel, at: now) { streams.estimates.push(estimate) }
                for event in Self.events(from: analysis, channel: sweep.channel, channelName: name, sweep: sweep.sequence, at: now) {
                    streams.events.push(event)
                }
                deliver(AnalyzedSweep(channel: sweep.channel, sweepSequence: sweep.sequence, analysis: analysis))
            }
            if sweeps.isEmpty {
                if streams.sweeps.isClosed || Task.isCancelled { return }
                await streams.sweeps.waitForData(after: cursor)
            }
        }
    }

    static func estimates(from analysis: SweepAnalysis, channel: ChannelID, at time: Timestamp) -> [Estimate] {
        var out: [Estimate] = []
        if let fit = analysis.fit {
            for p in fit.parameters {
                out.append(Estimate(channel: channel, time: time, quantity: "fit.\(p.name)", value: p.value,
                                    sigma: p.standardError ?? .nan, source: "lm"))
            }
            out.append(Estimate(channel: channel, time: time, quantity: "fit.rmse", value: fit.rmse, source: "lm"))
        }
        if let inverse = analysis.inverse {
            out.append(Estimate(channel: channel, time: time, quantity: "inverse.residual", value: inverse.residual, source: "inverse"))
            out.append(Estimate(channel: channel, time: time, quantity: "inverse.network_residual",
                                value: inverse.network.reconstructionError, source: "inverse"))
            out.append(Estimate(channel: channel, time: time, quantity: "inverse.shift", value: inverse.parameterShift, source: "inverse"))
        }
        if let kk = analysis.kk {
            out.append(Estimate(channel: channel, time: time, quantity: "kk.mu", value: kk.mu, source: "linkk"))
            out.append(Estimate(channel: channel, time: time, quantity: "kk.max_residual", value: kk.maxResidual, source: "linkk"))
        }
        return out
    }

    static func events(from analysis: SweepAnalysis, channel: ChannelID, channelName: String, sweep: UInt64,
                       at time: Timestamp) -> [BenchEvent] {
        var out: [BenchEvent] = []
        let place = "channel \(channelName) sweep #\(sweep)"
        if let failure = analysis.kkFailure {
            out.append(BenchEvent(channel: channel, time: time, severity: .warning, kind: "kk-failed",
                                  message: "\(place): Kramers–Kronig check could not run: \(failure)"))
        } else if let kk = analysis.kk, kk.verdict == .invalid {
            out.append(BenchEvent(channel: channel, time: time, severity: .warning, kind: "kk-failed",
                                  message: "\(place): Kramers–Kronig check failed (\(kk.reason))"))
        }
        if let failure = analysis.fitFailure {
            out.append(BenchEvent(channel: channel, time: time, severity: .warning, kind: "fit-failed",
                                  message: "\(place): fit of \(analysis.circuit) failed: \(failure)"))
        }
        if let inverse = analysis.inverse, inverse.abnormal {
            let residual = fixed(inverse.residual, 3), limit = fixed(inverse.limit, 3)
            out.append(BenchEvent(channel: channel, time: time, severity: .warning, kind: "data-quality",
                                  message: "\(place): rescaled residual \(residual) of the \(analysis.circuit) fit is beyond "
                                      + "the normal range (limit \(limit)); bad data or not a spectrum of the family"))
        }
        return out
    }
}
