import ArgumentParser
import Electrochem
import Foundation

extension Weighting: ExpressibleByArgument {}
extension FitMethod: ExpressibleByArgument {}
extension LinKKMode: ExpressibleByArgument {}

/// Reading spectrum files and printing analyses, shared by `fit` and `kk`.
enum ImpedanceFiles {
    static func read(_ path: String) throws -> SpectrumFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(path): cannot be read")
        }
        return try SpectrumImporter.read(bytes: Array(data), name: path)
    }

    /// `NAME=VALUE` pairs, given repeatedly or comma-separated.
    static func assignments(_ items: [String], option: String) throws -> [String: Double] {
        var result: [String: Double] = [:]
        for item in items.flatMap({ $0.split(separator: ",") }) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
                throw ValidationError("--\(option) '\(item)': expected NAME=VALUE with a number, e.g. R0=0.01")
            }
            result[parts[0]] = value
        }
        return result
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func number(_ value: Double) -> String { String(format: "%.5g", value) }

    static func describe(_ kk: LinKKResult) -> String {
        "Lin-KK: \(kk.verdict.rawValue) — \(kk.reason)"
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

/// One file's outcome in `--json` output.
struct FileAnalysis: Encodable {
    var file: String
    var format: SpectrumFile.Format?
    var partial: String?
    var error: String?
    var analysis: SweepAnalysis?
}
