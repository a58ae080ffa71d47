import BenchCore

extension BenchClock {
    /// Monotonic clock in seconds, for deadlines and rates.
    static func monotonicSeconds() -> Double { Double(monotonicNs()) / 1e9 }
}
