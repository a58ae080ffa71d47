import ArgumentParser

extension Bench {
    /// Every benchmark suite, one per line.
    static let suites: [any ParsableCommand.Type] = [
        RingBench.self,
        CyclerBench.self,
        StatusBench.self,
        EndToEndBench.self,
        IngestBench.self,
        AlarmsBench.self,
        ImpedanceBench.self,
        FractionalBench.self,
        HealthBench.self,
    ]
}
