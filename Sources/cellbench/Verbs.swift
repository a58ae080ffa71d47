import ArgumentParser

extension CellBench {
    /// Every verb of the CLI, one per line, in the order `--help` shows them.
    static let verbs: [any ParsableCommand.Type] = [
        ExportCommand.self,
        StatusCommand.self,
        TailCommand.self,
        FitVerb.self,
        KKVerb.self,
        TrainInverseVerb.self,
        EvalInverseVerb.self,
    ]
}
