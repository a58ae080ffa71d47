import BenchCore
import Logging
import ServiceLifecycle

/// Runs every configured acquisition source until graceful shutdown, then
/// cancels them and waits until each has stopped publishing. Listed after the
/// store in the service group, so it is stopped first and the store drains last.
struct AcquisitionService: Service {
    let sources: [any AcquisitionSource]
    let streams: BenchStreams
    let watermarks: CommitWatermarks
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for source in sources {
                group.addTask {
                    do {
                        try await source.run(streams: streams, watermarks: watermarks)
                    } catch is CancellationError {
                    } catch {
                        logger.error("instrument \(source.name) stopped: \(error)")
                        streams.events.push(BenchEvent(channel: nil, severity: .error, kind: "instrument-stopped",
                                                       message: "instrument \(source.name) stopped: \(error)", instrument: source.name))
                    }
                }
            }
            try? await gracefulShutdown()
            logger.info("stopping acquisition")
            group.cancelAll()
        }
        logger.info("acquisition stopped")
    }
}
