import ArgumentParser

extension Bench {
    /// Every benchmark suite, one per line.
    static let suites: [any ParsableCommand.Type] = [
        RingBench.self,
        StatusBench.self,
        EndToEndBench.self,
        IngestBench.self,
        ImpedanceBench.self,
        HealthBench.self,
    ]
}
