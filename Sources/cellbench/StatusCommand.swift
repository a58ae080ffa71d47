import ArgumentParser
import StatusServer

/// `cellbench status`: the bench at a glance.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show channels with their latest values, instruments with their link state, and counters.")

    @OptionGroup var socket: StatusSocketOption

    @Flag(name: .long, help: "Print the server's status reply as one line of JSON.")
    var json = false

    func run() async throws {
        let reply = try await StatusClient.withConnection(socketPath: socket.path) { connection in
            try await connection.send(StatusRequest(op: "status", id: .number(1)))
            return try await connection.reply(to: .number(1))
        }
        guard case .status(let status) = reply.message else {
            throw StatusClientError(description: "unexpected reply from \(socket.path): \(reply.text.prefix(200))")
        }
        print(json ? reply.text : StatusText.report(status.snapshot), terminator: json ? "\n" : "")
    }
}
