import BenchCore
import Foundation
import Logging
import Synchronization

/// The alarm engine: reads samples, events and estimates from the bench
/// streams, evaluates the configured rules, keeps each alarm's lifecycle, and
/// pushes every state change (raise, acknowledge, clear) to `streams.alarms`,
/// from where the store persists it and the status socket shows it.
///
/// Actions run outside the evaluation: a critical rule with `action =
/// "safe-stop"` calls `safeStop` for its channel; a rule's `command` runs with
/// the alarm as JSON on stdin. Their failures become events, never crashes.
/// Notifications (log line, command) are rate-limited per rule and channel;
/// critical raises are always logged.
public final class AlarmEngine: Sendable {
    /// Where the periodic checks (silences, links, store lag, cohort scores) take their time from.
    public enum TimeSource: Sendable, Equatable {
        /// The host clock: a silence or a lost link is noticed even when no sample arrives.
        case host
        /// The samples' own timestamps: a simulated bench running faster than real time, whose
        /// periodic checks must see exactly the samples up to the time they run at.
        case samples
    }

    public typealias SafeStop = @Sendable (ChannelID) async throws -> Void
    public typealias LinkStates = @Sendable () -> [(name: String, status: LinkStatus)]

    private struct State: ~Copyable {
        var evaluator: AlarmEvaluator
        var book: AlarmBook
        var limiter: NotificationLimiter
        var transitions: [Transition] = []
    }

    /// A state change to publish, and whether it may notify.
    private struct Change {
        var alarm: Alarm
        var rule: AlarmRule?
        /// nil when rate-limited, else notifications suppressed before this one.
        var suppressedBefore: Int?
    }

    private let state: Mutex<State>
    private let streams: BenchStreams
    private let configuration: AlarmConfiguration
    private let names: [ChannelID: String]
    private let safeStop: SafeStop
    private let links: LinkStates
    private let storeLagSeconds: @Sendable () -> Double
    private let timeSource: TimeSource
    private let logger: Logger

    /// Records read from each ring per batch.
    static let batchSize = 1024

    /// - Parameters:
    ///   - initial: alarms still active or acknowledged in the store; kept open without being raised again.
    ///   - nextID: first id for new alarms (the store's highest alarm id + 1).
    ///   - safeStop: stops the channel's output (cycler or galvanostat); called for critical `safe-stop` rules.
    ///   - links: each instrument's link state, read once a second.
    ///   - storeLagSeconds: how long the store has not committed, read once a second.
    ///   - timeSource: where `run()` takes the time of the periodic checks from.
    public init(configuration: AlarmConfiguration, channels: [ChannelInfo], initial: [Alarm], nextID: Int64,
                streams: BenchStreams, safeStop: @escaping SafeStop, links: @escaping LinkStates = { [] },
                storeLagSeconds: @escaping @Sendable () -> Double = { 0 }, timeSource: TimeSource = .host,
                logger: Logger) {
        self.configuration = configuration
        self.timeSource = timeSource
        self.streams = streams
        self.safeStop = safeStop
        self.links = links
        self.storeLagSeconds = storeLagSeconds
        self.logger = logger
        names = Dictionary(channels.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var evaluator = AlarmEvaluator(configuration: configuration, channels: channels)
        var book = AlarmBook(initial: initial, nextID: nextID)
        // Alarms of rules no longer configured can never clear by themselves.
        var orphans: [Alarm] = []
        for (key, alarm) in book.open {
            if let r = configuration.rules.firstIndex(where: { $0.name == alarm.rule }) {
                evaluator.restore(rule: r, channel: alarm.channel, subject: key.subject)
            } else if var cleared = book.clear(key, at: .now()) {
                cleared.note = [alarm.note, "cleared at start-up: rule '\(alarm.rule)' is no longer configured"]
                    .compactMap { $0 }.joined(separator: "; ")
                orphans.append(cleared)
            }
        }
        state = Mutex(State(evaluator: evaluator, book: book,
                            limiter: NotificationLimiter(limit: configuration.notifyLimit, window: configuration.notifyWindow)))
        for alarm in orphans { publish(Change(alarm: alarm, rule: nil, suppressedBefore: 0)) }
    }

    /// Alarms active or acknowledged now.
    public var openAlarms: [Alarm] {
        state.withLock { s in s.book.open.values.sorted { $0.id < $1.id } }
    }

    /// Notifications held back by the rate limit since start.
    public var suppressedNotifications: Int { state.withLock { $0.limiter.suppressedTotal } }

    /// Follows the streams until the task is cancelled or the sample ring is closed.
    public func run() async {
        var sampleCursor = streams.samples.makeCursor(at: .next)
        var eventCursor = streams.events.makeCursor(at: .next)
        var estimateCursor = streams.estimates.makeCursor(at: .next)
        var samples: [Sample] = [], events: [BenchEvent] = [], estimates: [Estimate] = []
        samples.reserveCapacity(Self.batchSize)
        var lastTick = -Double.infinity
        var sampleTime: Timestamp?
        var missed: UInt64 = 0
        while !Task.isCancelled {
            missed += streams.samples.read(&sampleCursor, into: &samples, maximum: Self.batchSize)
            missed += streams.events.read(&eventCursor, into: &events, maximum: Self.batchSize)
            missed += streams.estimates.read(&estimateCursor, into: &estimates, maximum: Self.batchSize)
            if missed > 0 {
                logger.warning("alarm evaluation fell behind the streams", metadata: ["missed_records": "\(missed)"])
                missed = 0
            }
            let idle = samples.isEmpty && events.isEmpty && estimates.isEmpty
            if !idle { process(samples: samples, events: events, estimates: estimates) }
            sampleTime = samples.last?.time ?? sampleTime
            let time = timeSource == .host ? Timestamp.now() : sampleTime
            if let now = time, now.monotonicSeconds - lastTick >= 1 {
                lastTick = now.monotonicSeconds
                tick(now: now)
            }
            if idle {
                if streams.samples.isClosed { return }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Evaluates a batch of records (in the order: events, estimates, samples).
    public func process(samples: [Sample], events: [BenchEvent] = [], estimates: [Estimate] = []) {
        let changes = state.withLock { s in
            s.transitions.removeAll(keepingCapacity: true)
            for e in events { s.evaluator.observe(e, into: &s.transitions) }
            for e in estimates { s.evaluator.observe(e, into: &s.transitions) }
            for sample in samples { s.evaluator.observe(sample, into: &s.transitions) }
            return s.transitions.isEmpty ? [] : apply(&s)
        }
        changes.forEach(publish)
    }

    /// Runs the time-driven rules (silence, links, store lag, cohorts) at `now`.
    public func tick(now: Timestamp) {
        let links = self.links()
        let lag = storeLagSeconds()
        let changes = state.withLock { s in
            s.transitions.removeAll(keepingCapacity: true)
            s.evaluator.tick(now: now, links: links, storeLagSeconds: lag, into: &s.transitions)
            return s.transitions.isEmpty ? [] : apply(&s)
        }
        changes.forEach(publish)
    }

    /// Acknowledges an active alarm and publishes the change.
    public func acknowledge(alarm id: Int64, by user: String, note: String) throws(AcknowledgeError) -> Alarm {
        let alarm = try state.withLock { s throws(AcknowledgeError) in
            try s.book.acknowledge(id: id, by: user, note: note, at: .now())
        }
        publish(Change(alarm: alarm, rule: nil, suppressedBefore: 0))
        return alarm
    }

    /// Turns transitions into alarm state changes.
    private func apply(_ s: inout State) -> [Change] {
        var changes: [Change] = []
        for t in s.transitions {
            let rule = configuration.rules[t.rule]
            let alarm: Alarm?
            switch t.change {
            case .raise(let message):
                alarm = s.book.raise(rule: rule, channel: t.channel, subject: t.subject, message: message, at: t.time)
            case .clear:
                alarm = s.book.clear(AlarmBook.Key(rule: rule.name, channel: t.channel, subject: t.subject), at: t.time)
            }
            guard let alarm else { continue }
            let key = AlarmBook.Key(rule: rule.name, channel: t.channel, subject: t.subject)
            changes.append(Change(alarm: alarm, rule: rule, suppressedBefore: s.limiter.admit(key, at: t.time.monotonicSeconds)))
        }
        return changes
    }

    private func publish(_ change: Change) {
        let alarm = change.alarm
        streams.alarms.push(alarm)
        let raised = alarm.state == .active
        if raised, let rule = change.rule, rule.safeStop, let channel = alarm.channel {
            Task { await stop(channel, alarm: alarm) }
        }
        guard let suppressed = change.suppressedBefore else {
            if raised, alarm.severity == .critical { log(alarm, suppressed: 0) }
            return
        }
        log(alarm, suppressed: suppressed)
        if let command = change.rule?.command {
            let input = notice(alarm)
            let timeout = configuration.commandTimeout
            Task { await runCommand(command, input: input, alarm: alarm, timeout: timeout) }
        }
    }

    private func log(_ alarm: Alarm, suppressed: Int) {
        var metadata: Logger.Metadata = ["alarm": "\(alarm.id)", "rule": "\(alarm.rule)", "severity": "\(alarm.severity.rawValue)"]
        if let channel = alarm.channel { metadata["channel"] = "\(names[channel] ?? channel.description)" }
        if suppressed > 0 { metadata["suppressed_notifications"] = "\(suppressed)" }
        switch alarm.state {
        case .active:
            let level: Logger.Level = switch alarm.severity {
            case .warning: .warning
            case .alarm: .error
            case .critical: .critical
            }
            logger.log(level: level, "alarm raised: \(alarm.message)", metadata: metadata)
        case .acknowledged:
            logger.notice("alarm acknowledged by \(alarm.acknowledgedBy ?? "?"): \(alarm.message)", metadata: metadata)
        case .cleared:
            logger.notice("alarm cleared: \(alarm.message)", metadata: metadata)
        }
    }

    private func notice(_ alarm: Alarm) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = (try? encoder.encode(AlarmNotice(alarm, channelName: alarm.channel.map { names[$0] ?? $0.description }))) ?? Data()
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private func stop(_ channel: ChannelID, alarm: Alarm) async {
        let name = names[channel] ?? channel.description
        do {
            try await safeStop(channel)
            logger.critical("safe-stopped channel \(name) on alarm \(alarm.id) (\(alarm.rule))")
            streams.events.push(BenchEvent(channel: channel, severity: .warning, kind: "safe-stop",
                                           message: "channel \(name) safe-stopped by alarm \(alarm.id) (\(alarm.rule))"))
        } catch {
            logger.critical("safe-stop of channel \(name) failed: \(error)")
            streams.events.push(BenchEvent(channel: channel, severity: .error, kind: "safe-stop-failed",
                                           message: "alarm \(alarm.id) (\(alarm.rule)) could not safe-stop channel \(name): \(error)"))
        }
    }

    private func runCommand(_ command: [String], input: Data, alarm: Alarm, timeout: Double) async {
        do {
            try await CommandHook.run(command, input: input, timeout: timeout)
        } catch {
            logger.error("alarm command failed: \(error)", metadata: ["alarm": "\(alarm.id)", "rule": "\(alarm.rule)"])
            streams.events.push(BenchEvent(channel: alarm.channel, severity: .error, kind: "alarm-command-failed",
                                           message: "command of rule '\(alarm.rule)' for alarm \(alarm.id): \(error)"))
        }
    }
}
