import BenchCore
import Logging

/// What a line instrument (analyzer, galvanostat) keeps of its serial link: the protocol
/// session, the monitor that reports the link up or down, the reconnect backoff and the log.
struct LineConnection: Sendable {
    let session: LineSession
    let monitor: LinkMonitor
    let backoff: Backoff
    let logger: Logger

    init(instrument name: String, definition: LineProtocolDefinition, line: SerialLine, backoff: Backoff, logger: Logger) {
        session = LineSession(definition: definition, line: line)
        monitor = LinkMonitor(instrument: name)
        self.backoff = backoff
        self.logger = logger
    }

    /// Runs `body` (connect, restore settings, poll) again after every failure until cancelled,
    /// then closes the line.
    func supervise(streams: BenchStreams, _ body: (_ connected: () -> Void) async throws -> Void) async {
        await superviseLink(monitor: monitor, streams: streams, logger: logger, backoff: backoff, session: body)
        await session.line.disconnect()
    }
}
