import ArgumentParser
import Foundation
import StatusServer

/// `--socket PATH`, falling back to `CELLBENCH_SOCKET`, then the daemon's default path.
struct StatusSocketOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Status socket of cellbenchd (default: $CELLBENCH_SOCKET, else \(StatusServerConfiguration.defaultSocketPath)).",
                                            valueName: "path"))
    var socket: String?

    var path: String {
        if let socket { return socket }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CELLBENCH_SOCKET"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return StatusServerConfiguration.defaultSocketPath
    }
}
