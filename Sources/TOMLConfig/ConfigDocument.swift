import TOMLKit

/// A configuration problem, located as precisely as the source allows:
/// `file:line: key 'instruments[0].port': expected a string`.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// 1-based line, when the key or its table could be found in the source.
    public var line: Int?
    /// Full key path, e.g. `instruments[0].port` (empty for whole-file problems).
    public var key: String
    public var message: String

    public init(file: String, line: Int?, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return key.isEmpty ? "\(place): \(message)" : "\(place): key '\(key)': \(message)"
    }
}

/// A TOML value converted out of the parser into plain Sendable Swift values.
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])
    /// Dates and times, kept as their TOML text.
    case dateTime(String)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .dateTime: "a date/time"
        }
    }
}

/// A parsed TOML file that remembers its source, so that every error found
/// while reading values can name the file, the line and the key.
public struct ConfigDocument: Sendable {
    public let file: String
    /// The TOML text as read.
    public let text: String
    public let root: ConfigTable
    let locator: LineLocator

    /// Parses TOML text. `file` is used in error messages and to resolve relative paths.
    public init(text: String, file: String) throws(ConfigError) {
        let parsed: TOMLTable
        do {
            parsed = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: file, line: error.source.begin.line, key: "",
                              message: "TOML syntax error at column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(file: file, line: nil, key: "", message: "TOML syntax error: \(error)")
        }
        self.file = file
        self.text = text
        self.locator = LineLocator(source: text)
        self.root = ConfigTable(values: ConfigDocument.convert(table: parsed), path: [], file: file, locator: locator)
    }

    /// Reads and parses a TOML file.
    public init(contentsOf path: String) throws(ConfigError) {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw ConfigError(file: path, line: nil, key: "", message: "cannot read: \(error)")
        }
        try self.init(text: text, file: path)
    }

    private static func convert(table: TOMLTable) -> [String: ConfigValue] {
        var out: [String: ConfigValue] = [:]
        for key in table.keys {
            if let value = table[key] { out[key] = convert(value) }
        }
        return out
    }

    private static func convert(_ value: TOMLValueConvertible) -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .integer(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .table: return .table(value.table.map(convert(table:)) ?? [:])
        case .array: return .array(value.array.map { $0.map(convert) } ?? [])
        default: return .dateTime(value.debugDescription)
        }
    }
}
