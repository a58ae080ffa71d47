import BenchCore
import Logging
import Synchronization

/// Exponential backoff with jitter between reconnection attempts.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    /// Fraction of the delay drawn at random (±), so that many links do not retry in step.
    public var jitter: Double
    private var attempt = 0

    public init(initial: Double = 0.5, maximum: Double = 30, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The next delay, s: initial·2ⁿ capped at `maximum`, ± jitter.
    public mutating func next() -> Double {
        let base = min(maximum, initial * Double(1 << min(attempt, 30)))
        attempt += 1
        return max(0, base * (1 + Double.random(in: -jitter...jitter)))
    }

    public mutating func reset() { attempt = 0 }
}

/// Keeps an instrument's link status and reports its transitions as events and log lines.
final class LinkMonitor: Sendable {
    let instrument: String
    private let status = Mutex(LinkStatus(state: .connecting))

    init(instrument: String) { self.instrument = instrument }

    var current: LinkStatus { status.withLock { $0 } }

    func up(streams: BenchStreams, logger: Logger) {
        let previous = status.withLock { s -> LinkStatus in
            let old = s
            if s.state != .up {
                s.state = .up
                s.since = .now()
            }
            return old
        }
        guard previous.state != .up else { return }
        let message = previous.state == .down ? "link restored" : "link up"
        logger.info("\(message)", metadata: ["instrument": "\(instrument)"])
        if previous.state == .down {
            streams.events.push(BenchEvent(channel: nil, severity: .info, kind: "link-restored", message: "\(instrument): \(message)", instrument: instrument))
        }
    }

    func down(_ error: any Error, streams: BenchStreams, logger: Logger) {
        let text = "\(error)"
        let wasDown = status.withLock { s -> Bool in
            let was = s.state == .down
            if !was { s.since = .now() }
            s.state = .down
            s.lastError = text
            return was
        }
        logger.warning("link down: \(text)", metadata: ["instrument": "\(instrument)"])
        if !wasDown {
            streams.events.push(BenchEvent(channel: nil, severity: .error, kind: "link-lost", message: "\(instrument): \(text)", instrument: instrument))
        }
    }

    /// A reply that could not be used but did not take the link down.
    func protocolError(_ error: any Error, channel: ChannelID?, streams: BenchStreams, logger: Logger) {
        let text = "\(error)"
        status.withLock { $0.lastError = text }
        logger.warning("protocol error: \(text)", metadata: ["instrument": "\(instrument)"])
        streams.events.push(BenchEvent(channel: channel, severity: .warning, kind: "protocol-error", message: "\(instrument): \(text)", instrument: instrument))
    }
}

/// Runs `session` (connect, restore settings, poll) until cancelled; when it
/// fails, marks the link down, waits with backoff, and starts it again.
func superviseLink(monitor: LinkMonitor, streams: BenchStreams, logger: Logger, backoff initial: Backoff,
                   session: (_ connected: () -> Void) async throws -> Void) async {
    var backoff = initial
    while !Task.isCancelled {
        do {
            try await session {
                monitor.up(streams: streams, logger: logger)
                backoff.reset()
            }
        } catch is CancellationError {
            return
        } catch {
            if Task.isCancelled { return }
            monitor.down(error, streams: streams, logger: logger)
        }
        let delay = backoff.next()
        do { try await Task.sleep(for: .seconds(delay)) } catch { return }
    }
}

/// The entry point the daemon runs for each configured instrument: an
/// `AcquisitionSource` (`run` talks to the instrument until cancelled and
/// reconnects by itself; `linkStatus()` for `cellbench status`) that also
/// names its channels and can make a cell safe.
public protocol BenchInstrument: AcquisitionSource {
    var kind: InstrumentKind { get }
    /// Bench channels this instrument measures.
    var channels: [ChannelID] { get }
    /// Puts the channel's cell in a safe state (output off, at rest).
    func safeStop(channel: ChannelID) async throws
}
