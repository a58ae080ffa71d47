import Metrics

/// The status server's own metrics, created through the factory the daemon
/// bootstraps (Prometheus in production).
struct StatusMetrics: Sendable {
    let clientsConnected: Gauge
    let clientsRefused: Counter
    let clientsDropped: Counter
    let recordsOverrun: Counter

    init(factory: any MetricsFactory) {
        clientsConnected = Gauge(label: "cellbench_status_clients", factory: factory)
        clientsRefused = Counter(label: "cellbench_status_clients_refused_total", factory: factory)
        clientsDropped = Counter(label: "cellbench_status_clients_dropped_total", factory: factory)
        recordsOverrun = Counter(label: "cellbench_status_records_overrun_total", factory: factory)
    }
}
