import ArgumentParser
import Foundation
import Storage

/// `cellbench export`: a channel's recording from a store, as CSV.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a channel's samples from a store in the recording CSV format.",
        discussion: """
            Times (--from, --to) are ISO 8601 with a zone (2026-03-01T12:00:00Z, 2026-03-01T13:00:00+01:00), \
            a date (2026-03-01, midnight UTC) or Unix seconds (1772366400). Both bounds are inclusive.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv
    }

    @Option(help: "Store file written by cellbenchd.") var store: String
    @Option(help: "Channel name, as in the configuration (for example A01).") var channel: String
    @Option(help: "Export samples from this wall time on.") var from: String?
    @Option(help: "Export samples up to this wall time.") var to: String?
    @Option(help: "Output format.") var format: Format = .csv
    @Option(help: "Output file (default: standard output).") var out: String?

    func run() throws {
        let fromNs = try from.map { try WallTime.parse($0, argument: "--from") }
        let toNs = try to.map { try WallTime.parse($0, argument: "--to") }
        let reader = try StoreReader(path: store)
        let output = try Output(path: out)
        let source = "cellbenchd store \((store as NSString).lastPathComponent)"
        let summary: RecordingExport.Summary
        do {
            summary = try RecordingExport.write(from: reader, channelName: channel, from: fromNs, to: toNs,
                                                source: source, to: output.write)
            try output.close()
        } catch {
            output.discard()
            throw error
        }
        if summary.adjustedTimes > 0 {
            FileHandle.standardError.write(Data("""
                export: \(summary.adjustedTimes) of \(summary.rows) rows had the same or an earlier time than the row \
                before; written 1 µs after it to keep time_s strictly increasing\n
                """.utf8))
        }
    }
}

/// Buffered text output to standard output or to a file. A file is written
/// beside its final name and renamed into place only once complete, so a
/// failed export never leaves a truncated file that looks whole.
private final class Output {
    private let path: String?
    private let partialPath: String?
    private let file: UnsafeMutablePointer<FILE>
    private var open = true

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(path: String?) throws {
        self.path = path
        partialPath = path.map { $0 + ".partial" }
        guard let file = partialPath.map({ fopen($0, "w") }) ?? fdopen(STDOUT_FILENO, "w") else {
            throw Output.failure(partialPath ?? "standard output")
        }
        self.file = file
    }

    func write(_ text: String) throws {
        guard fputs(text, file) >= 0 else { throw Output.failure(partialPath ?? "standard output") }
    }

    func close() throws {
        open = false
        guard fclose(file) == 0 else { throw Output.failure(partialPath ?? "standard output") }
        if let path, let partialPath, rename(partialPath, path) != 0 { throw Output.failure(path) }
    }

    /// Abandons a failed export: removes the partial file.
    func discard() {
        if open { fclose(file) }
        if let partialPath { unlink(partialPath) }
    }

    private static func failure(_ path: String) -> Failure {
        Failure(description: "cannot write '\(path)': \(String(cString: strerror(errno)))")
    }
}
