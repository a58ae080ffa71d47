import Foundation

/// A problem in a CSV input file, located by file, line and column.
public struct CSVError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// 1-based line number (0 when the problem concerns the whole file).
    public var line: Int
    /// Column name, when one is concerned.
    public var column: String?
    public var message: String

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return column.map { "\(place): column '\($0)': \(message)" } ?? "\(place): \(message)"
    }
}

/// Numeric columns of a CSV file in the project's format (`protocols/file-formats.md`):
/// `#` comment lines, one header line, `.` decimals. Extra columns are ignored.
public struct CSVColumns: Sendable {
    public let file: String
    public let columns: [String: [Double]]
    /// Source line of each data row, for messages.
    public let lines: [Int]

    public subscript(name: String) -> [Double] { columns[name] ?? [] }
    public var rowCount: Int { lines.count }

    /// Reads the named columns; every one of `required` must be present, `optional` ones may be absent.
    /// Blocking file I/O: call off the cooperative thread pool.
    public init(contentsOf path: String, required: [String], optional: [String] = []) throws(CSVError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CSVError(file: path, line: 0, column: nil, message: "cannot read: \(error.localizedDescription)")
        }
        try self.init(text: text, file: path, required: required, optional: optional)
    }

    public init(text: String, file: String, required: [String], optional: [String] = []) throws(CSVError) {
        self.file = file
        var header: [String]?
        var wanted: [(name: String, index: Int)] = []
        var columns: [String: [Double]] = [:]
        var lines: [Int] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            if line.hasPrefix("#") || line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard let names = header else {
                let names = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                for name in required where !names.contains(name) {
                    throw CSVError(file: file, line: lineNumber, column: name,
                                   message: "missing in the header (found: \(names.joined(separator: ",")))")
                }
                for name in required + optional {
                    if let index = names.firstIndex(of: name) { wanted.append((name, index)); columns[name] = [] }
                }
                header = names
                continue
            }
            for (name, index) in wanted {
                guard index < fields.count else {
                    throw CSVError(file: file, line: lineNumber, column: name, message: "row has \(fields.count) fields, header has \(names.count)")
                }
                let field = fields[index].trimmingCharacters(in: .whitespaces)
                guard let value = Double(field), value.isFinite else {
                    throw CSVError(file: file, line: lineNumber, column: name, message: "'\(field)' is not a finite number")
                }
                columns[name, default: []].append(value)
            }
            lines.append(lineNumber)
        }
        guard header != nil else { throw CSVError(file: file, line: 0, column: nil, message: "no header line") }
        self.columns = columns
        self.lines = lines
    }

    /// Checks that `name` strictly increases from row to row.
    public func requireStrictlyIncreasing(_ name: String) throws(CSVError) {
        let values = self[name]
        for i in values.indices.dropFirst() where !(values[i] > values[i - 1]) {
            throw CSVError(file: file, line: lines[i], column: name, message: "must strictly increase (\(values[i]) after \(values[i - 1]))")
        }
    }
}
