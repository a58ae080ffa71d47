import Alarms
import BenchCore
import Instruments
import Logging
import ServiceLifecycle
import Simulator
import StatusServer
import Storage

/// Runs the alarm engine as a service: alarms still open in the store are
/// reloaded at start, so state survives a restart without duplicates.
struct AlarmService: Service {
    let engine: AlarmEngine

    static func make(config: BenchConfiguration, channels: [ChannelInfo], sources: [any AcquisitionSource],
                     streams: BenchStreams, progress: StoreProgress, logger: Logger) async throws -> AlarmService {
        let path = config.store.path
        let (open, highest) = try await BlockingQueue(label: "cellbench.alarms-load").run {
            let reader = try StoreReader(path: path)
            return (try reader.alarms(in: [.active, .acknowledged]), try reader.highestAlarmID())
        }
        let instruments = Dictionary(sources.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let instrumentOf = Dictionary(channels.map { ($0.id, $0.instrument) }, uniquingKeysWith: { first, _ in first })
        // Rules name channels by their configuration order; the engine sees the store's identifiers.
        let storeID = Dictionary(channels.map { ($0.name, $0.id) }, uniquingKeysWith: { first, _ in first })
        let configured = config.channels.compactMap { c in storeID[c.info.name].map { (c.info.id, $0) } }
        let rules = config.alarms.renumbered(Dictionary(configured, uniquingKeysWith: { first, _ in first }))
        let engine = AlarmEngine(
            configuration: rules, channels: channels, initial: open, nextID: highest + 1, streams: streams,
            safeStop: { channel in
                guard let name = instrumentOf[channel], let instrument = instruments[name] else {
                    throw DaemonError("channel \(channel) has no instrument")
                }
                switch instrument {
                case let driven as any BenchInstrument: try await driven.safeStop(channel: channel)
                case let simulated as SimulatedInstrument: try await simulated.safeStop(channel: channel)
                default: throw DaemonError("instrument \(name) cannot safe-stop a channel")
                }
            },
            links: { sources.map { (name: $0.name, status: $0.linkStatus()) } },
            storeLagSeconds: { progress.stalledSeconds },
            // A simulated cohort stamps its samples with simulated time: the periodic checks follow it.
            timeSource: sources.contains { $0 is SimulatedCohort } ? .samples : .host,
            logger: logger)
        logger.info("alarm engine ready", metadata: ["rules": "\(rules.rules.count)", "open_alarms": "\(open.count)"])
        return AlarmService(engine: engine)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await engine.run() }
    }
}

/// The daemon's status provider with acknowledgements handed to the alarm engine.
struct AlarmingStatusProvider: StatusProvider {
    let base: DaemonStatusProvider
    let engine: AlarmEngine

    func snapshot() async -> StatusSnapshot { await base.snapshot() }
    func history(_ query: HistoryQuery) async throws -> [HistoryRecord] { try await base.history(query) }
    func channels() -> [ChannelInfo] { base.channels() }
    func schedule(_ request: ScheduleRequest) async throws -> ScheduleStatus { try await base.schedule(request) }
    func acknowledge(alarm id: Int64, by user: String, note: String) async throws -> Alarm {
        try engine.acknowledge(alarm: id, by: user, note: note)
    }
}
