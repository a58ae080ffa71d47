import ArgumentParser

extension CellBench {
    /// Every verb of the CLI, one per line, in the order `--help` shows them.
    static let verbs: [any ParsableCommand.Type] = [
        AckCommand.self,
        AlarmsCommand.self,
        ExportCommand.self,
        SimulateCommand.self,
        StatusCommand.self,
        TailCommand.self,
        FitVerb.self,
        KKVerb.self,
        SimResponseVerb.self,
        ReplayVerb.self,
        IdentifyVerb.self,
        HealthVerb.self,
        ModesVerb.self,
        TrainInverseVerb.self,
        EvalInverseVerb.self,
        RunCommand.self,
        StopCommand.self,
        PauseCommand.self,
        ResumeCommand.self,
    ]
}
