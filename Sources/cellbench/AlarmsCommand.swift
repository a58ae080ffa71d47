import ArgumentParser
import StatusServer

/// `cellbench alarms`: alarms as the daemon stored them, each in its latest state.
struct AlarmsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alarms",
        abstract: "List alarms (newest first) with their state, who acknowledged them and when they cleared.")

    @OptionGroup var socket: StatusSocketOption

    @Flag(name: .long, help: "Only alarms still active or acknowledged (not cleared).")
    var active = false

    @Option(name: .long, help: ArgumentHelp("Most recent alarms to ask for.", valueName: "count"))
    var limit = 1000

    @Flag(name: .long, help: "Print one JSON object per alarm.")
    var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive, got \(limit)") }
    }

    func run() async throws {
        let reply = try await StatusClient.withConnection(socketPath: socket.path) { connection in
            let maximum = connection.hello?.limits.maxHistoryRecords ?? limit
            try await connection.send(StatusRequest(op: "history", id: .number(1), stream: "alarms", limit: min(limit, maximum)))
            return try await connection.reply(to: .number(1))
        }
        guard case .history(let history) = reply.message else {
            throw StatusClientError(description: "unexpected reply from \(socket.path): \(reply.text.prefix(200))")
        }
        var alarms: [AlarmFields] = history.records.compactMap { record in
            if case .alarm(let a) = record { return a }
            return nil
        }
        if active { alarms.removeAll { $0.state == .cleared } }
        if json {
            for alarm in alarms.sorted(by: { $0.alarmId > $1.alarmId }) { print(try LineEncoding.line(RecordLine.alarm(alarm))) }
        } else {
            print(StatusText.alarms(alarms), terminator: "")
        }
    }
}
