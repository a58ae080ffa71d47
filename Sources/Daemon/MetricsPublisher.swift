import Prometheus
import Synchronization

/// Mirrors the daemon's counters into the Prometheus registry served at `/metrics`.
/// Totals become counters (`cellbench_<name>_total`), the rest gauges (`cellbench_<name>`).
final class MetricsPublisher: Sendable {
    private let registry: PrometheusCollectorRegistry
    private struct State {
        var counters: [String: (Counter, Double)] = [:]
        var gauges: [String: Gauge] = [:]
    }
    private let state = Mutex(State())

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    static func isTotal(_ name: String) -> Bool {
        ["received", "committed", "ignored", "batches", "missed", "commits"].contains { name.hasSuffix($0) }
    }

    static func descriptor(_ name: String, unit: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cellbench", metricName: name, unitName: unit,
                             helpText: "cellbench \(String(name.map { $0 == "_" ? " " : $0 })) (counters of cellbench status)")
    }

    func publish(_ values: [String: Double]) {
        state.withLock { s in
            for (name, value) in values {
                if Self.isTotal(name) {
                    let (counter, last) = s.counters[name] ?? (registry.makeCounter(descriptor: Self.descriptor(name, unit: "total")), 0)
                    if value > last { counter.increment(by: value - last) }
                    s.counters[name] = (counter, max(value, last))
                } else {
                    let gauge = s.gauges[name] ?? registry.makeGauge(descriptor: Self.descriptor(name, unit: ""))
                    gauge.set(value)
                    s.gauges[name] = gauge
                }
            }
        }
    }
}
