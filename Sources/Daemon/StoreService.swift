import BenchCore
import Logging
import ServiceLifecycle
import Storage

/// Owns the store's batch writer in the service group. First in the group, so
/// it is the last to stop: by then acquisition has stopped, the rings are
/// closed and the writer drains them completely before closing the file.
struct StoreService: Service {
    let writer: BatchWriter
    let streams: BenchStreams
    let logger: Logger

    func run() async throws {
        writer.start()
        try? await gracefulShutdown()
        streams.closeAll()
        logger.info("flushing the store")
        let counters = try await writer.finish()
        logger.info("store closed: \(counters.samples) samples, \(counters.sweeps) sweeps, \(counters.events) events committed in \(counters.batches) batches")
    }
}
