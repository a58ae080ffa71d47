import BenchCore
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a rule's command reads on stdin: the alarm as stored (times as
/// monotonic and wall-clock nanoseconds, channel as its store id) and the
/// channel's name.
public struct AlarmNotice: Codable, Sendable, Equatable {
    public var channelName: String?
    public var alarm: Alarm

    public init(_ alarm: Alarm, channelName: String?) {
        self.alarm = alarm
        self.channelName = channelName
    }
}

/// Runs a configured program (argv, no shell) with one JSON object on stdin,
/// on a Dispatch queue outside the concurrency pool, killing it after a timeout.
enum CommandHook {
    private static let queue = DispatchQueue(label: "cellbench.alarm-commands", attributes: .concurrent)
    /// A program that exits without reading its input must not kill the daemon with SIGPIPE.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func run(_ argv: [String], input: Data, timeout: Double) async throws(Failure) {
        let result: Failure? = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: runBlocking(argv, input: input, timeout: timeout)) }
        }
        if let result { throw result }
    }

    private static func runBlocking(_ argv: [String], input: Data, timeout: Double) -> Failure? {
        guard let program = argv.first else { return Failure(description: "empty command") }
        ignoreBrokenPipes
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(argv.dropFirst())
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            return Failure(description: "cannot start \(program): \(error.localizedDescription)")
        }
        // A program that does not read its input must not hang us: the pipe buffer holds one alarm.
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if finished.wait(timeout: .now() + 1) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
            return Failure(description: "\(program) did not finish within \(timeout) s and was stopped")
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status" : "was killed by signal"
            return Failure(description: "\(program) \(how) \(process.terminationStatus)")
        }
        return nil
    }
}
