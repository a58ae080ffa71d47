import BenchCore
import Synchronization

/// The `simulated-cohort` instrument kind: a `FaultyCohort` run in-process faster
/// than real time, every sample stamped with simulated time so that rates,
/// debounce times and rests mean what they would on a real bench (the bench's
/// alarm engine then takes the time of its periodic checks from the samples).
public final class SimulatedCohort: AcquisitionSource {
    public let name: String
    /// Simulated seconds per wall second.
    public let timeScale: Double
    private let cohort: Mutex<FaultyCohort>
    private let link = Mutex(LinkStatus(state: .connecting))

    /// Samples produced per pass before the task yields, so that readers keep up.
    static let samplesPerPass = 4096

    public init(name: String, cohort: FaultyCohort, timeScale: Double) {
        self.name = name
        self.timeScale = timeScale
        self.cohort = Mutex(cohort)
    }

    public func run(streams: BenchStreams, watermarks: CommitWatermarks) async throws {
        link.withLock { $0 = LinkStatus(state: .up) }
        defer { link.withLock { $0 = LinkStatus(state: .down, lastError: "stopped") } }
        let clock = ContinuousClock()
        let began = clock.now
        var batch: [Sample] = []
        batch.reserveCapacity(Self.samplesPerPass + 64)
        while !Task.isCancelled {
            let elapsed = clock.now - began
            let target = timeScale * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            cohort.withLock { cohort in
                batch.removeAll(keepingCapacity: true)
                // Behind the target (a loaded machine), the simulation slows down rather than skipping.
                while cohort.time + cohort.step <= target && batch.count < Self.samplesPerPass {
                    cohort.advance(into: &batch)
                }
            }
            for sample in batch { streams.samples.push(sample) }
            do { try await Task.sleep(for: .milliseconds(batch.count < Self.samplesPerPass ? 10 : 1)) } catch { break }
        }
    }

    public func linkStatus() -> LinkStatus { link.withLock { $0 } }
}
