import TOMLKit

/// A configuration or driver-file error, naming the file, the line and the key.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// File the error is in ("" when the text did not come from a file).
    public var file: String
    /// 1-based line, 0 when unknown.
    public var line: Int
    /// Dotted key path, e.g. `commands.status.reply`.
    public var key: String
    public var reason: String

    public init(file: String, line: Int, key: String, reason: String) {
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
    }

    public var description: String {
        let place = file.isEmpty ? "" : (line > 0 ? "\(file):\(line): " : "\(file): ")
        return key.isEmpty ? "\(place)\(reason)" : "\(place)\(key): \(reason)"
    }
}

/// Finds the line on which a key is defined in TOML text, so that semantic
/// errors (a missing command, a register out of range) point at a line
/// even though the parser does not keep positions for values.
struct TOMLLineIndex: Sendable {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var table = ""
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmed(" \t\r")
            if line.hasPrefix("[") {
                table = String(line.drop(while: { $0 == "[" }).prefix(while: { $0 != "]" }))
                    .filter { $0 != " " && $0 != "\"" }
                lines[table] = lines[table] ?? number + 1
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = line[..<equals].filter { $0 != " " && $0 != "\"" }
                let path = table.isEmpty ? key : "\(table).\(key)"
                lines[path] = lines[path] ?? number + 1
            }
        }
    }

    /// Line of `path` or of its closest defined parent; 0 when none is known.
    func line(of path: String) -> Int {
        var candidate = Substring(path)
        while !candidate.isEmpty {
            if let line = lines[String(candidate)] { return line }
            guard let dot = candidate.lastIndex(of: ".") else { break }
            candidate = candidate[..<dot]
        }
        return 0
    }
}

extension String {
    func trimmed(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// A table of a parsed TOML document with typed, error-naming accessors.
struct TOMLSection {
    let table: TOMLTable
    /// Dotted path of this table ("" for the root).
    let path: String
    let file: String
    let index: TOMLLineIndex

    /// Parses `text`; a syntax error names the file, line and column.
    static func parse(_ text: String, file: String) throws -> TOMLSection {
        do {
            return TOMLSection(table: try TOMLTable(string: text), path: "", file: file, index: TOMLLineIndex(text: text))
        } catch let error as TOMLParseError {
            throw ConfigurationError(file: file, line: error.source.begin.line, key: "",
                                     reason: "column \(error.source.begin.column): \(error.description)")
        }
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ key: String, _ reason: String) -> ConfigurationError {
        let full = key.isEmpty ? path : keyPath(key)
        return ConfigurationError(file: file, line: index.line(of: full), key: full, reason: reason)
    }

    var keys: [String] { table.keys }

    func contains(_ key: String) -> Bool { table[key] != nil }

    func section(_ key: String) throws -> TOMLSection {
        guard let value = table[key] else { throw error(key, "missing table") }
        guard let sub = value.table else { throw error(key, "must be a table") }
        return TOMLSection(table: sub, path: keyPath(key), file: file, index: index)
    }

    func optionalSection(_ key: String) throws -> TOMLSection? {
        contains(key) ? try section(key) : nil
    }

    func string(_ key: String) throws -> String {
        guard let value = table[key] else { throw error(key, "missing string") }
        guard let s = value.string else { throw error(key, "must be a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        contains(key) ? try string(key) : nil
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        guard let value = table[key] else { throw error(key, "missing integer") }
        guard let i = value.int else { throw error(key, "must be an integer") }
        guard range.contains(i) else { throw error(key, "\(i) is outside \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    func int(_ key: String, in range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        contains(key) ? try int(key, in: range) : fallback
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws -> Double {
        guard let value = table[key] else { throw error(key, "missing number") }
        guard let d = value.double ?? value.int.map(Double.init) else { throw error(key, "must be a number") }
        guard range.contains(d) else { throw error(key, "\(d) is outside \(range.lowerBound)...\(range.upperBound)") }
        return d
    }

    func double(_ key: String, in range: ClosedRange<Double>, default fallback: Double) throws -> Double {
        contains(key) ? try double(key, in: range) : fallback
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = table[key] else { return fallback }
        guard let b = value.bool else { throw error(key, "must be true or false") }
        return b
    }

    /// Rejects keys this reader does not know, so a misspelt key is an error rather than ignored.
    func rejectUnknownKeys(_ known: Set<String>) throws {
        for key in keys.sorted() where !known.contains(key) {
            throw error(key, "unknown key (expected one of: \(known.sorted().joined(separator: ", ")))")
        }
    }
}
