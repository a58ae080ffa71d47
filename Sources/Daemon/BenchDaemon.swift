#if canImport(Glibc)
import Glibc
#endif
import BenchCore
import Electrochem
import Estimation
import Fractional
import Foundation
import Instruments
import Logging
import Prometheus
import Schedules
import ServiceLifecycle
import StatusServer
import Storage
import TOMLConfig

/// `cellbenchd`: reads the configuration, opens the store, binds the status
/// socket, then runs acquisition until SIGTERM/SIGINT and shuts down in order.
public enum BenchDaemon {
    /// Exit status: 0 after a clean shutdown, 2 for a configuration error, 1 for any other failure.
    public static func run(configPath: String) async -> Int32 {
        // 1. Configuration, validated whole (instrument and driver files included) before anything is opened.
        let config: BenchConfiguration
        do {
            config = try BenchConfiguration.load(path: configPath)
        } catch {
            printError("cellbenchd: configuration error: \(error)")
            return 2
        }
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
        let logger = Logger(label: "cellbenchd")
        let factory = InstrumentFactory(drivers: DriverFactory(logger: Logger(label: "cellbenchd.instruments")))
        let plans: [InstrumentPlan]
        let models: [String: SOCObserver]
        do {
            plans = try config.instruments.map { instrument throws(ConfigError) in
                try factory.plan(instrument, channels: config.channels(of: instrument.name).map(\.info))
            }
            models = try await loadObservers(config)
        } catch {
            printError("cellbenchd: configuration error: \(error)")
            return 2
        }

        do {
            try await runBench(config: config, plans: plans, observers: models, logger: logger)
            await factory.drivers.shutdown()
            return 0
        } catch {
            logger.critical("\(error)")
            return 1
        }
    }

    static func runBench(config: BenchConfiguration, plans: [InstrumentPlan], observers: [String: SOCObserver],
                         logger: Logger) async throws {
        let startedNs = BenchClock.monotonicNs()
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        let blocking = BlockingQueue(label: "cellbench.store-open")

        // 2. The store: created or migrated, channels registered by name so their ids are stable.
        try makeParentDirectory(of: config.store.path)
        let options = BatchOptions(batchSize: config.store.batchRows, interval: config.store.batchInterval)
        let (writer, channels, stored, storedSchedules) = try await blocking.run {
            let writer = try BatchWriter(path: config.store.path, streams: streams, watermarks: watermarks, options: options)
            let channels = try config.channels.map { c in
                try writer.registerChannel(name: c.info.name, instrument: c.info.instrument,
                                           instrumentChannel: c.info.instrumentChannel, ratedCapacityAh: c.info.ratedCapacityAh)
            }
            let reader = try StoreReader(path: config.store.path)
            return (writer, channels, try reader.latestSampleSequences(), try reader.schedules())
        }
        logger.info("store open", metadata: ["path": "\(config.store.path)", "channels": "\(channels.count)"])

        // Drivers of instruments with record buffers acknowledge only what the store holds.
        for (channel, sequence) in stored { watermarks.advance(channel, to: sequence) }
        let sources = try plans.map { plan throws(ConfigError) in try plan.make(channels.filter { $0.instrument == plan.name }, stored) }
        let schedules = makeSchedules(config: config, channels: channels, sources: sources, stored: storedSchedules,
                                      streams: streams, writer: writer)
        let progress = StoreProgress(writer: writer)
        let live = LiveView(streams: streams)
        let registry = PrometheusCollectorRegistry()
        let metrics = MetricsPublisher(registry: registry)
        let alarms = try await AlarmService.make(config: config, channels: channels, sources: sources, streams: streams,
                                                 progress: progress, logger: Logger(label: "cellbenchd.alarms"))
        let daemonProvider = DaemonStatusProvider(channelList: channels, sources: sources, streams: streams, live: live,
                                            schedules: schedules, store: progress, storePath: config.store.path,
                                            reads: BlockingQueue(label: "cellbench.store-read"), startedNs: startedNs)

        let provider = AlarmingStatusProvider(base: daemonProvider, engine: alarms.engine)
        let modelUpdates = ObserverModelUpdates()
        let observing = ObserverPipeline(
            observers: Dictionary(uniqueKeysWithValues: channels.compactMap { c in observers[c.name].map { (c.id, $0) } }),
            publishIntervalSeconds: config.estimateInterval, modelUpdates: modelUpdates)
        // Health of every channel with a rated capacity: capacity, SOH, resistance, fade forecast.
        // The OCV table of the channel's cell file, when it has one, dates the rests' SOC.
        let health = HealthPipeline(trackers: channels.filter { $0.ratedCapacityAh > 0 }.map { info in
            var settings = HealthSettings(ratedCapacityAh: info.ratedCapacityAh)
            settings.ocv = observers[info.name]?.model.ocv
            return HealthTracker(channel: info.id, settings: settings)
        })
        // Channels whose observer follows the bench's own impedance fits: their cell file's model (capacity, OCV).
        var fitFollowers: [ChannelID: CellModel] = [:]
        for (configured, info) in zip(config.channels, channels) where configured.adoptSweepFits {
            fitFollowers[info.id] = observers[info.name]?.model
        }
        let analysis = try makeAnalysis(config: config, channels: channels, streams: streams, writer: writer, logger: logger) {
            [fitFollowers] result in
            guard let fit = result.analysis.fit, let base = fitFollowers[result.channel] else { return }
            let origin = "sweep #\(result.sweepSequence)"
            do {
                try modelUpdates.post(fit: fit, base: base, channel: result.channel, origin: origin)
            } catch {
                streams.events.push(BenchEvent(channel: result.channel, severity: .warning, kind: "observer-model-rejected",
                                               message: "\(origin): the fit of \(result.analysis.circuit) gives no cell model: \(error)"))
            }
        }

        // 3. The status socket.
        try makeParentDirectory(of: config.status.socketPath)
        var statusConfiguration = StatusServerConfiguration(socketPath: config.status.socketPath, metricsPort: config.status.metricsPort)
        statusConfiguration.socketMode = mode_t(config.status.socketMode)
        let status = StatusServer(configuration: statusConfiguration, streams: streams, provider: provider,
                                  registry: registry, logger: Logger(label: "cellbenchd.status"))
        try await status.start()

        // 4. Services; shut down in reverse order.
        let notifier = SystemdNotifier.fromProcessEnvironment()
        let channelCount = channels.count
        let supervisor = Supervisor(notifier: notifier, check: {
            let counters = progress.refresh()
            metrics.publish(DaemonStatusProvider.counters(streams: streams, store: counters))
            let stalled = progress.stalledSeconds
            let healthy = stalled < progress.stallLimitSeconds && counters.lastError == nil
            let summary = healthy
                ? "\(channelCount) channels, \(counters.samples) samples stored, store lag \(counters.lag) records"
                : "unhealthy: store has not committed for \(Int(stalled)) s (\(counters.lastError ?? "no error reported"))"
            return PipelineHealth(healthy: healthy, summary: summary)
        }, logger: logger)

        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: StoreService(writer: writer, streams: streams, logger: logger), serviceName: "store"),
                    .init(service: StatusService(server: status), serviceName: "status"),
                    .init(service: ConsumerService(name: "live") { await live.follow() }, serviceName: "live"),
                    .init(service: ConsumerService(name: "analysis", body: analysis), serviceName: "analysis"),
                    .init(service: alarms, serviceName: "alarms"),
                    .init(service: ConsumerService(name: "observers") { await observing.run(streams: streams) }, serviceName: "observers"),
                    .init(service: ConsumerService(name: "health") { await health.run(streams: streams) }, serviceName: "health"),
                    .init(service: AcquisitionService(sources: sources, streams: streams, watermarks: watermarks, logger: logger),
                          serviceName: "acquisition"),
                    // After acquisition, so it stops first: no command goes to an instrument being shut down.
                    .init(service: ConsumerService(name: "schedules") { await schedules.run() }, serviceName: "schedules"),
                    .init(service: supervisor, serviceName: "supervisor"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("stopped cleanly")
    }

    /// A schedule runner for every channel of a cycler or galvanostat, with the analyzer wired to its cell.
    static func makeSchedules(config: BenchConfiguration, channels: [ChannelInfo], sources: [any AcquisitionSource],
                              stored: [ChannelID: StoredSchedule], streams: BenchStreams, writer: BatchWriter) -> ScheduleService {
        let wirings = zip(config.channels, channels).compactMap { configured, info -> ScheduleService.Wiring? in
            guard let source = sources.first(where: { $0.name == info.instrument }) as? any SourceInstrument else { return nil }
            let analyzer = configured.analyzer.flatMap { name in sources.first { $0.name == name } as? AnalyzerDriver }
            return ScheduleService.Wiring(info: info, source: source, analyzer: analyzer, configured: configured.schedule,
                                          stored: stored[info.id])
        }
        return ScheduleService(wirings: wirings, streams: streams, writer: writer, logger: Logger(label: "cellbenchd.schedules"))
    }

    /// Loads the cell file of every channel that names one, off the cooperative pool.
    /// A file that cannot be read or is wrong is a configuration error of the channel's `cell` key.
    static func loadObservers(_ config: BenchConfiguration) async throws(ConfigError) -> [String: SOCObserver] {
        var observers: [String: SOCObserver] = [:]
        let files = BlockingQueue(label: "cellbench.cell-files")
        for channel in config.channels {
            guard let path = channel.cellFile else { continue }
            let method = channel.observer, tuning = channel.observerTuning
            do {
                observers[channel.info.name] = try await files.run {
                    try SOCObserver(model: CellFile.load(path), method: method, tuning: tuning)
                }
            } catch {
                throw channel.table.error("cell", "\(error)")
            }
        }
        return observers
    }

    /// The per-sweep Kramers–Kronig check and fit, storing each analysis with its sweep.
    /// `onAnalysed` also sees every analysis (the observers' model updates).
    static func makeAnalysis(config: BenchConfiguration, channels: [ChannelInfo], streams: BenchStreams, writer: BatchWriter,
                             logger: Logger, onAnalysed: @escaping @Sendable (AnalyzedSweep) -> Void) throws -> @Sendable () async -> Void {
        var analyzers: [ChannelID: SweepAnalyzer] = [:]
        for (configured, info) in zip(config.channels, channels) {
            analyzers[info.id] = try SweepAnalyzer(circuit: configured.circuit, variant: configured.inverseVariant)
        }
        let pipeline = SweepAnalysisPipeline(analyzers: analyzers)
        let names = Dictionary(uniqueKeysWithValues: channels.map { ($0.id, $0.name) })
        return {
            await pipeline.run(streams: streams, channelNames: names) { result in
                onAnalysed(result)
                do {
                    let json = String(decoding: try JSONEncoder().encode(result.analysis), as: UTF8.self)
                    writer.submit(Storage.SweepAnalysis(channel: result.channel, sweepSequence: result.sweepSequence,
                                                        updatedWallNs: BenchClock.wallNs(), resultJSON: json))
                } catch {
                    logger.error("cannot encode the analysis of sweep #\(result.sweepSequence): \(error)")
                }
            }
        }
    }

    static func makeParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        var prefix = ""
        for part in path[..<slash].split(separator: "/", omittingEmptySubsequences: false) {
            prefix += (prefix.isEmpty && part.isEmpty) ? "/" : (prefix.isEmpty || prefix == "/" ? "" : "/") + part
            if prefix.isEmpty || prefix == "/" { continue }
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw DaemonError("cannot create folder \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func printError(_ message: String) {
        let line = message + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

/// Keeps the status server open until graceful shutdown.
struct StatusService: Service {
    let server: StatusServer
    func run() async throws {
        try? await gracefulShutdown()
        await server.stop()
    }
}

struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
