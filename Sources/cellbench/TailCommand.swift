import ArgumentParser
import Foundation
import StatusServer

/// `cellbench tail`: follow the live record streams.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow live records (samples, sweeps, estimates, alarms, events) as they arrive.")

    @OptionGroup var socket: StatusSocketOption

    @Option(name: .customLong("channel"), help: ArgumentHelp("Only this channel (repeatable; default: all).", valueName: "name"))
    var channels: [String] = []

    @Option(name: .customLong("stream"),
            help: ArgumentHelp("Stream to follow: \(StreamKind.allCases.map(\.rawValue).joined(separator: ", ")) (repeatable; default: all).",
                               valueName: "stream"))
    var streams: [String] = []

    @Flag(name: .long, help: "Print the server's NDJSON lines unchanged.")
    var json = false

    func validate() throws {
        for name in streams where StreamKind(rawValue: name) == nil {
            throw ValidationError("unknown stream \"\(name)\"; expected one of \(StreamKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let request = StatusRequest(op: "subscribe", id: .number(1),
                                    streams: streams.isEmpty ? StreamKind.allCases.map(\.rawValue) : streams,
                                    channels: channels.isEmpty ? nil : channels)
        let droppedReason: String? = try await StatusClient.withConnection(socketPath: socket.path) { connection in
            try await connection.send(request)
            _ = try await connection.reply(to: .number(1))
            while let line = try await connection.next() {
                if json {
                    print(line.text)
                } else if let text = StatusText.tailLine(line.message) {
                    print(text)
                }
                // Followers are often piped into grep or a file: deliver each line as it comes.
                fflush(nil)
                if case .dropped(let d) = line.message { return d.reason }
            }
            return nil
        }
        if let droppedReason {
            throw StatusClientError(description: "disconnected by \(socket.path): \(droppedReason)")
        }
    }
}
