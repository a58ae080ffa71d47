import ArgumentParser
import Schedules
import StatusServer

/// `cellbench run CHANNEL SCHEDULE.toml`: start a test schedule on a channel.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a test schedule on a channel (replacing the one it runs); see docs/schedules.md.")

    @OptionGroup var socket: StatusSocketOption

    @Argument(help: "Channel name, as in the daemon's configuration.")
    var channel: String

    @Argument(help: "Schedule file (TOML). It is checked here, then sent to the daemon, which keeps its text with the run.")
    var schedule: String

    func run() async throws {
        let source: ScheduleSource
        do {
            source = try ScheduleSource.load(path: schedule)
        } catch {
            throw ValidationError("\(error)")
        }
        try await ScheduleControl.send(StatusRequest(op: "run", id: .number(1), channel: channel, schedule: source.text, file: schedule),
                                       socket: socket.path)
    }
}

/// `cellbench stop|pause|resume CHANNEL`: one request naming the channel.
protocol ChannelScheduleVerb: AsyncParsableCommand {
    var socket: StatusSocketOption { get }
    var channel: String { get }
}

extension ChannelScheduleVerb {
    func run() async throws {
        let op = Self.configuration.commandName ?? ""
        try await ScheduleControl.send(StatusRequest(op: op, id: .number(1), channel: channel), socket: socket.path)
    }
}

struct StopCommand: ChannelScheduleVerb {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a channel's schedule and switch its output off.")
    @OptionGroup var socket: StatusSocketOption
    @Argument(help: "Channel name.") var channel: String
}

struct PauseCommand: ChannelScheduleVerb {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Hold a channel's schedule at rest; step time stops counting.")
    @OptionGroup var socket: StatusSocketOption
    @Argument(help: "Channel name.") var channel: String
}

struct ResumeCommand: ChannelScheduleVerb {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Carry on a paused schedule from where its step was.")
    @OptionGroup var socket: StatusSocketOption
    @Argument(help: "Channel name.") var channel: String
}

/// Sends one schedule request and prints the schedule's new state.
enum ScheduleControl {
    static func send(_ request: StatusRequest, socket: String) async throws {
        let reply = try await StatusClient.withConnection(socketPath: socket) { connection in
            try await connection.send(request)
            return try await connection.reply(to: .number(1))
        }
        guard case .schedule(let s) = reply.message else {
            throw StatusClientError(description: "unexpected reply from \(socket): \(reply.text.prefix(200))")
        }
        print(StatusText.schedule(channel: s.channel, s.schedule))
    }
}
