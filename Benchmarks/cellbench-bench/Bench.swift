import ArgumentParser

/// `cellbench-bench`: in-process benchmarks whose figures are quoted in BENCHMARKS.md.
/// Side-by-side runs against other tools live in the scripts beside this folder.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cellbench-bench",
        abstract: "Measure the figures quoted in BENCHMARKS.md.",
        subcommands: Bench.suites
    )
}
