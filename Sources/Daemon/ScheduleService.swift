import BenchCore
import Foundation
import Instruments
import Logging
import Schedules
import StatusServer
import Storage
import Synchronization

/// Runs the channels' test schedules: one runner per channel of a cycler or
/// galvanostat, fed with the channel's samples from the ring and with control
/// requests from the status socket.
final class ScheduleService: Sendable {
    private let runners: [ChannelID: ScheduleRunner]
    private let streams: BenchStreams

    /// What a channel's runner drives.
    struct Wiring: Sendable {
        let info: ChannelInfo
        let source: any SourceInstrument
        let analyzer: AnalyzerDriver?
        /// The configured schedule, started when the store holds none for the channel.
        let configured: ScheduleSource?
        /// The schedule the store holds for the channel, resumed where it was.
        let stored: StoredSchedule?
    }

    init(wirings: [Wiring], streams: BenchStreams, writer: BatchWriter, logger: Logger) {
        let saves = BlockingQueue(label: "cellbench.schedule-save")
        runners = Dictionary(uniqueKeysWithValues: wirings.map {
            ($0.info.id, ScheduleRunner(wiring: $0, streams: streams, writer: writer, saves: saves, logger: logger))
        })
        self.streams = streams
    }

    /// The channel's schedule as `status` shows it (nil when it never ran one).
    func status(_ channel: ChannelID) -> ScheduleStatus? { runners[channel]?.status }

    func handle(_ request: ScheduleRequest) async throws -> ScheduleStatus {
        guard let runner = runners[request.channel] else {
            throw ScheduleError("schedules run on cycler and galvanostat channels only")
        }
        return try await runner.submit(request)
    }

    /// Runs every runner and hands each its channel's samples, until cancelled.
    func run() async {
        guard !runners.isEmpty else { return }
        await withTaskGroup(of: Void.self) { group in
            for runner in runners.values { group.addTask { await runner.run() } }
            await follow()
            for runner in runners.values { runner.finish() }
        }
    }

    private func follow() async {
        var cursor = streams.samples.makeCursor()
        var buffer: [Sample] = []
        buffer.reserveCapacity(1024)
        while !Task.isCancelled {
            streams.samples.read(&cursor, into: &buffer, maximum: 1024)
            if !buffer.isEmpty {
                var byChannel: [ChannelID: [Sample]] = [:]
                for sample in buffer where runners[sample.channel] != nil { byChannel[sample.channel, default: []].append(sample) }
                for (channel, samples) in byChannel { runners[channel]?.deliver(samples) }
                continue
            }
            if streams.samples.isClosed { return }
            await streams.samples.waitForData(after: cursor)
        }
    }
}

/// One channel's schedule: its engine, confined to the task that runs `run()`,
/// which takes samples, requests and sweep completions one at a time, so commands
/// reach the instrument in the order the engine gave them.
final class ScheduleRunner: Sendable {
    private enum Input: Sendable {
        case samples([Sample])
        case request(ScheduleRequest, CheckedContinuation<ScheduleStatus, any Error>)
        case sweepFinished
    }

    private let wiring: ScheduleService.Wiring
    private let streams: BenchStreams
    private let writer: BatchWriter
    private let saves: BlockingQueue
    private let logger: Logger
    private let inbox: AsyncStream<Input>
    private let feed: AsyncStream<Input>.Continuation
    private let published = Mutex<ScheduleStatus?>(nil)

    /// Step time between saves of a running step's position, s (changes of step or state are saved at once).
    static let saveInterval = 5.0
    /// Longest wait for an instrument's link before commanding it anyway (drivers re-apply settings on connection).
    static let linkWait = 30.0

    init(wiring: ScheduleService.Wiring, streams: BenchStreams, writer: BatchWriter, saves: BlockingQueue, logger: Logger) {
        self.wiring = wiring
        self.streams = streams
        self.writer = writer
        self.saves = saves
        self.logger = logger
        (inbox, feed) = AsyncStream.makeStream(of: Input.self)
    }

    var status: ScheduleStatus? { published.withLock { $0 } }
    private var channel: ChannelID { wiring.info.id }
    private var channelName: String { wiring.info.name }

    func deliver(_ samples: [Sample]) { feed.yield(.samples(samples)) }
    func finish() { feed.finish() }

    func submit(_ request: ScheduleRequest) async throws -> ScheduleStatus {
        try await withCheckedThrowingContinuation { reply in
            if case .terminated = feed.yield(.request(request, reply)) {
                reply.resume(throwing: ScheduleError("\(channelName): the daemon is shutting down"))
            }
        }
    }

    /// The state the runner's task keeps.
    private struct Run {
        var engine: ScheduleEngine
        var source: ScheduleSource
        /// The position last saved (nil before the first save).
        var savedAt: SchedulePosition?
        var sweep: Task<Void, Never>?
    }

    func run() async {
        var current = await startFromStoreOrConfiguration()
        defer { current?.sweep?.cancel() }
        for await input in inbox {
            switch input {
            case .samples(let samples):
                guard var run = current else { continue }
                var commands: [ScheduleCommand] = []
                for sample in samples { commands += run.engine.consume(sample) }
                await proceed(&run, commands)
                current = run
            case .sweepFinished:
                guard var run = current else { continue }
                run.sweep = nil
                await proceed(&run, run.engine.sweepFinished())
                current = run
            case .request(let request, let reply):
                do {
                    let run = try await handle(request, current)
                    current = run
                    reply.resume(returning: publish(run))
                } catch {
                    reply.resume(throwing: error)
                }
            }
        }
    }

    // MARK: - Requests

    private func handle(_ request: ScheduleRequest, _ current: Run?) async throws -> Run {
        if case .run(_, let file, let text) = request {
            let source = try ScheduleSource(file: file, text: text)
            current?.sweep?.cancel()
            var run = Run(engine: try ScheduleEngine(schedule: source.schedule, ratedCapacityAh: wiring.info.ratedCapacityAh),
                          source: source, savedAt: nil, sweep: nil)
            try await save(run)
            run.savedAt = run.engine.position
            note(.info, "schedule-started", "\(channelName): schedule '\(source.schedule.name)' started from \(file)")
            await execute(run.engine.begin(), &run)
            return run
        }
        guard var run = current else { throw ScheduleError("\(channelName) runs no schedule") }
        let before = run.engine.position.state
        let commands: [ScheduleCommand]
        switch request {
        case .stop: commands = run.engine.stop()
        case .pause: commands = run.engine.pause()
        default: commands = run.engine.resume()
        }
        guard run.engine.position.state != before else {
            throw ScheduleError("\(channelName): schedule '\(run.source.schedule.name)' is \(before.rawValue)")
        }
        if run.engine.position.state == .stopped { run.sweep?.cancel() }
        await proceed(&run, commands)
        return run
    }

    // MARK: - Start-up

    /// Resumes the stored schedule where it was, or starts the configured one when the store holds none.
    private func startFromStoreOrConfiguration() async -> Run? {
        var run: Run
        if let stored = wiring.stored {
            do {
                let source = try ScheduleSource(file: stored.file, text: stored.source)
                let position = try JSONDecoder().decode(SchedulePosition.self, from: Data(stored.positionJSON.utf8))
                run = Run(engine: try ScheduleEngine(schedule: source.schedule, ratedCapacityAh: wiring.info.ratedCapacityAh, resuming: position),
                          source: source, savedAt: position, sweep: nil)
            } catch {
                note(.error, "schedule-error", "\(channelName): the stored schedule from \(stored.file) cannot be resumed: \(error)")
                return nil
            }
            publish(run)
            guard run.engine.position.state.isActive else { return run }
            note(.info, "schedule-resumed", "\(channelName): schedule '\(run.source.schedule.name)' resumed at \(describe(run.engine))")
        } else if let source = wiring.configured {
            do {
                run = Run(engine: try ScheduleEngine(schedule: source.schedule, ratedCapacityAh: wiring.info.ratedCapacityAh),
                          source: source, savedAt: nil, sweep: nil)
                try await save(run)
                run.savedAt = run.engine.position
            } catch {
                note(.error, "schedule-error", "\(channelName): schedule \(source.file) not started: \(error)")
                return nil
            }
            note(.info, "schedule-started", "\(channelName): schedule '\(source.schedule.name)' started from \(source.file)")
        } else {
            return nil
        }
        await waitForLink { self.wiring.source.linkStatus() }
        await execute(run.engine.begin(), &run)
        publish(run)
        return run
    }

    private func waitForLink(_ link: @Sendable () -> LinkStatus) async {
        let deadline = Double(BenchClock.monotonicNs()) / 1e9 + Self.linkWait
        while link().state != .up && Double(BenchClock.monotonicNs()) / 1e9 < deadline {
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
        }
    }

    // MARK: - Commands

    /// Saves the position when it changed in substance, then carries out the commands, and reports what changed.
    private func proceed(_ run: inout Run, _ commands: [ScheduleCommand]) async {
        let now = run.engine.position
        let before = run.savedAt
        let moved = before.map { now.path != $0.path || now.iterations != $0.iterations || now.state != $0.state || now.phase != $0.phase } ?? true
        if moved || now.stepSeconds - (before?.stepSeconds ?? 0) >= Self.saveInterval {
            do {
                try await save(run)
                run.savedAt = now
            } catch {
                note(.error, "schedule-error", "\(channelName): position not saved: \(error)")
            }
        }
        if moved, let before { report(from: before, run) }
        await execute(commands, &run)
        publish(run)
    }

    private func report(from before: SchedulePosition, _ run: Run) {
        let now = run.engine.position
        let name = run.source.schedule.name
        switch now.state {
        case .tripped: note(.error, "schedule-safety", "\(channelName): schedule '\(name)' stopped, output off: \(now.message ?? "safety limit")")
        case .stopped: note(.info, "schedule-stopped", "\(channelName): schedule '\(name)' stopped, output off")
        case .finished: note(.info, "schedule-finished", "\(channelName): schedule '\(name)' finished")
        case .paused where before.state != .paused: note(.info, "schedule-paused", "\(channelName): schedule '\(name)' paused at \(describe(run.engine))")
        case .running where before.state == .paused: note(.info, "schedule-resumed", "\(channelName): schedule '\(name)' resumed at \(describe(run.engine))")
        default: note(.info, "schedule-step", "\(channelName): \(describe(run.engine))")
        }
    }

    private func execute(_ commands: [ScheduleCommand], _ run: inout Run) async {
        for command in commands {
            do {
                switch command {
                case .protect(let limits, let interval):
                    try await wiring.source.protect(limits, recordInterval: interval, channel: channel)
                case .source(let setpoint):
                    try await wiring.source.apply(setpoint, channel: channel)
                case .outputOff:
                    try await wiring.source.safeStop(channel: channel)
                case .sweep(let settings):
                    guard run.sweep == nil else { continue }
                    run.sweep = startSweep(settings)
                }
            } catch {
                note(.error, "schedule-command-failed", "\(channelName): \(command) failed: \(error)")
            }
        }
    }

    /// Runs the analyzer's sweep beside the runner, so samples (and safety checks) keep flowing meanwhile.
    private func startSweep(_ settings: SweepSettings) -> Task<Void, Never> {
        let feed = self.feed
        guard let analyzer = wiring.analyzer else {
            note(.error, "schedule-error", "\(channelName): no analyzer is wired to this channel (`analyzer` in [[channels]]); impedance step skipped")
            feed.yield(.sweepFinished)
            return Task {}
        }
        let channel = self.channel
        return Task {
            await self.waitForLink { analyzer.linkStatus() }
            // A failed sweep is stored aborted and reported by the analyzer driver; the schedule carries on.
            _ = try? await analyzer.measure(settings, cell: channel)
            if !Task.isCancelled { feed.yield(.sweepFinished) }
        }
    }

    // MARK: - Status, events, persistence

    private func save(_ run: Run) async throws {
        let json = String(decoding: try JSONEncoder().encode(run.engine.position), as: UTF8.self)
        let record = StoredSchedule(channel: channel, file: run.source.file, source: run.source.text, positionJSON: json,
                                    updatedWallNs: BenchClock.wallNs())
        let writer = self.writer
        try await saves.run { try writer.save(record) }
    }

    @discardableResult
    private func publish(_ run: Run) -> ScheduleStatus {
        let engine = run.engine
        let p = engine.position
        let s = ScheduleStatus(name: run.source.schedule.name, file: run.source.file, state: p.state.rawValue, step: engine.step?.name,
                               phase: engine.step == nil ? nil : p.phase.rawValue, path: p.path,
                               loops: engine.loops.map { .init(name: $0.name, iteration: $0.iteration, count: $0.count) },
                               stepSeconds: p.stepSeconds, stepChargeAh: p.stepChargeAh, soc: p.soc, message: p.message)
        published.withLock { $0 = s }
        return s
    }

    /// `step "charge" (cycle 2/100)`.
    private func describe(_ engine: ScheduleEngine) -> String {
        let loops = engine.loops.map { "\($0.name) \($0.iteration)/\($0.count)" }.joined(separator: ", ")
        return "step \"\(engine.step?.name ?? "-")\"" + (loops.isEmpty ? "" : " (\(loops))")
    }

    private func note(_ severity: BenchEvent.Severity, _ kind: String, _ message: String) {
        logger.log(level: severity == .error ? .error : .info, "\(message)", metadata: ["channel": "\(channelName)"])
        streams.events.push(BenchEvent(channel: channel, severity: severity, kind: kind, message: message))
    }
}
