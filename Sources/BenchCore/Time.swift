#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pair of timestamps taken together: monotonic for ordering and rates,
/// wall-clock for people. Both in nanoseconds.
public struct Timestamp: Hashable, Sendable, Codable {
    /// `CLOCK_MONOTONIC`, ns. Meaningful only within one boot of the host.
    public var monotonicNs: Int64
    /// `CLOCK_REALTIME`, ns since the Unix epoch.
    public var wallNs: Int64

    public init(monotonicNs: Int64, wallNs: Int64) {
        self.monotonicNs = monotonicNs
        self.wallNs = wallNs
    }

    /// Wall time in seconds since the Unix epoch.
    public var wallSeconds: Double { Double(wallNs) / 1e9 }
    /// Monotonic time in seconds.
    public var monotonicSeconds: Double { Double(monotonicNs) / 1e9 }

    /// Reads both clocks now.
    public static func now() -> Timestamp {
        Timestamp(monotonicNs: BenchClock.monotonicNs(), wallNs: BenchClock.wallNs())
    }
}

/// Direct access to the host clocks (no allocation, no Foundation).
public enum BenchClock {
    public static func monotonicNs() -> Int64 { read(CLOCK_MONOTONIC) }
    public static func wallNs() -> Int64 { read(CLOCK_REALTIME) }

    private static func read(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
