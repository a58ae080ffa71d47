import ArgumentParser
import Daemon

/// `cellbenchd --config FILE`: the bench daemon. Normally started by systemd.
@main
struct CellBenchDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cellbenchd",
        abstract: "Battery test bench daemon: acquisition, durable store, live status.",
        discussion: "Stops cleanly on SIGTERM or SIGINT, flushing everything received to the store."
    )

    @Option(name: .long, help: "Bench configuration file (TOML).")
    var config: String

    mutating func run() async throws {
        let status = await BenchDaemon.run(configPath: config)
        if status != 0 { throw ExitCode(status) }
    }
}
