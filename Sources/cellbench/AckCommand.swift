import ArgumentParser
import Foundation
import StatusServer

/// `cellbench ack`: acknowledge an active alarm, recording who and why.
struct AckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack",
        abstract: "Acknowledge an active alarm with a note; the daemon records who and when.")

    @OptionGroup var socket: StatusSocketOption

    @Argument(help: "Alarm id, as `cellbench alarms` shows it.")
    var id: Int64

    @Option(name: .long, help: "Why it is acknowledged or what was done.")
    var note: String

    @Option(name: .long, help: ArgumentHelp("Who acknowledges (default: your login name).", valueName: "name"))
    var by: String?

    func run() async throws {
        let user = by ?? Self.loginName
        let reply = try await StatusClient.withConnection(socketPath: socket.path) { connection in
            try await connection.send(StatusRequest(op: "ack", id: .number(1), alarm: id, by: user, note: note))
            return try await connection.reply(to: .number(1))
        }
        guard case .acknowledged(let ack) = reply.message else {
            throw StatusClientError(description: "unexpected reply from \(socket.path): \(reply.text.prefix(200))")
        }
        print("alarm \(ack.alarm.alarmId) acknowledged by \(ack.alarm.acknowledgedBy ?? user): \(ack.alarm.message)")
    }

    static var loginName: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    }
}
