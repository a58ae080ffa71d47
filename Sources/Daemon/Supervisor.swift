import BenchCore
import Logging
import ServiceLifecycle

/// What the watchdog needs to know about the pipeline.
struct PipelineHealth: Sendable {
    var healthy: Bool
    /// One line for `systemctl status` (STATUS=).
    var summary: String
}

/// Tells systemd that the daemon is ready, pings the watchdog while the
/// pipeline is healthy, and announces stopping. Last in the service group, so
/// it is the first to hear of a shutdown and sends `STOPPING=1` before
/// acquisition stops.
struct Supervisor: Service {
    let notifier: SystemdNotifier
    let check: @Sendable () -> PipelineHealth
    let logger: Logger

    func run() async throws {
        let first = check()
        notifier.ready(status: first.summary)
        logger.info("ready: \(first.summary)")
        // Ping at half the interval systemd asked for; refresh STATUS= and metrics every second.
        let period = notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5)
        var wasHealthy = true
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let health = check()
            if health.healthy {
                notifier.watchdog()
            } else if wasHealthy {
                logger.error("pipeline unhealthy, withholding watchdog: \(health.summary)")
            }
            wasHealthy = health.healthy
            notifier.status(health.summary)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: min(period, .seconds(1))) }
            } catch {
                break
            }
        }
        notifier.stopping(status: "stopping: draining acquisition, flushing the store")
        logger.info("stopping")
    }
}
