import ArgumentParser

/// `cellbench`: the command-line companion of `cellbenchd`.
@main
struct CellBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cellbench",
        abstract: "Battery test bench: live status, data export and offline analysis.",
        subcommands: CellBench.verbs
    )
}
