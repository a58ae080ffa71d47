import ArgumentParser
import Foundation
import Simulator
import TOMLConfig

/// `cellbench simulate --config FILE`: serves the reference instruments on
/// pseudo-terminals and Modbus TCP until interrupted.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run protocol-true simulated instruments (analyzer, galvanostat, cycler) backed by virtual cells.",
        discussion: "Prints where each instrument can be reached, then serves until SIGINT or SIGTERM.")

    @Option(name: .long, help: "Simulator file (TOML), e.g. examples/simulator.toml.")
    var config: String

    func run() async throws {
        let instruments: SimulatedInstruments
        do {
            instruments = try SimulatedInstruments(document: try ConfigDocument(contentsOf: config))
        } catch {
            throw ValidationError("\(error)")
        }
        FileHandle.standardOutput.write(Data(instruments.endpoints.map { $0 + "\n" }.joined().utf8))
        await Self.waitForTermination()
        instruments.stop()
    }

    /// Suspends until SIGINT or SIGTERM arrives.
    static func waitForTermination() async {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        for await _ in stream { break }
        sources.forEach { $0.cancel() }
    }
}
