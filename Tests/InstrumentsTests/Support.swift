import BenchCore
import Instruments
import Logging
import Testing

/// Paths inside the repository, found from this file's location.
enum Repository {
    static let root: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()
    static func driver(_ name: String) -> String { "\(root)/drivers/\(name)" }
}

/// Commits every sample as soon as it appears, the way the store advances
/// watermarks after each transaction, and keeps them for the assertions.
final class CommittingReader: Sendable {
    let streams: BenchStreams
    let watermarks: CommitWatermarks

    init(streams: BenchStreams, watermarks: CommitWatermarks) {
        self.streams = streams
        self.watermarks = watermarks
    }

    /// Reads samples until cancelled, committing each; returns them all.
    func run() async -> [Sample] {
        var cursor = streams.samples.makeCursor(at: .oldest)
        var all: [Sample] = []
        var batch: [Sample] = []
        while !Task.isCancelled {
            await streams.samples.waitForData(after: cursor)
            streams.samples.read(&cursor, into: &batch)
            all += batch
            for sample in batch { watermarks.advance(sample.channel, to: sample.sequence) }
        }
        return all
    }
}

func events(_ streams: BenchStreams) -> [BenchEvent] {
    var cursor = streams.events.makeCursor(at: .oldest)
    var out: [BenchEvent] = []
    streams.events.read(&cursor, into: &out)
    return out
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds`.
func eventually(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

let testLogger: Logger = {
    var logger = Logger(label: "cellbench.tests")
    logger.logLevel = .critical
    return logger
}()

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Runs `driver` with a committing reader while `body` runs, then stops both
/// (also when `body` fails, so that the driver cannot talk to a later test's
/// device). Returns the samples read.
func withRunning(_ driver: any BenchInstrument, streams: BenchStreams, watermarks: CommitWatermarks = CommitWatermarks(),
                 expectLinkUp: Bool = true, _ body: () async throws -> Void) async throws -> [Sample] {
    let reader = CommittingReader(streams: streams, watermarks: watermarks)
    let reading = Task { await reader.run() }
    let running = Task { try await driver.run(streams: streams, watermarks: watermarks) }
    let up = try await eventually(5) { driver.linkStatus().state == .up }
    #expect(up || !expectLinkUp)
    let outcome = await Result(catching: body)
    running.cancel()
    _ = try? await running.value
    reading.cancel()
    let samples = await reading.value
    try outcome.get()
    return samples
}

/// Expects `condition` to become true within `seconds`.
func expectEventually(_ seconds: Double, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async throws {
    let held = try await eventually(seconds, condition)
    #expect(held, "condition not met within \(seconds) s", sourceLocation: sourceLocation)
}
