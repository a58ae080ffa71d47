/// A table of a `ConfigDocument` with typed, located accessors.
///
/// Every accessor throws a `ConfigError` naming file, line and full key path
/// when a value is missing, of the wrong type, or out of range.
public struct ConfigTable: Sendable {
    public let values: [String: ConfigValue]
    /// Path components from the root, e.g. `["instruments[1]", "serial"]`.
    public let path: [String]
    public let file: String
    let locator: LineLocator

    init(values: [String: ConfigValue], path: [String], file: String, locator: LineLocator) {
        self.values = values
        self.path = path
        self.file = file
        self.locator = locator
    }

    public var keys: [String] { values.keys.sorted() }
    public func contains(_ key: String) -> Bool { values[key] != nil }

    /// Dotted path of `key` in this table, for messages.
    public func keyPath(_ key: String) -> String { (path + [key]).joined(separator: ".") }

    /// An error located at `key` of this table (or at the table itself when `key` is nil).
    public func error(_ key: String?, _ message: String) -> ConfigError {
        let line = locator.line(ofKey: key, inSection: path.joined(separator: "."))
        return ConfigError(file: file, line: line, key: key.map(keyPath) ?? path.joined(separator: "."), message: message)
    }

    /// Rejects keys this table does not know, so a misspelt option is an error, not silently ignored.
    public func rejectUnknownKeys(_ known: Set<String>) throws(ConfigError) {
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw error(unknown, "unknown key (known keys: \(known.sorted().joined(separator: ", ")))")
        }
    }

    // MARK: Scalars

    public func string(_ key: String) throws(ConfigError) -> String {
        guard let v = try optionalString(key) else { throw error(nil, "missing required key '\(key)'") }
        return v
    }

    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        switch values[key] {
        case nil: return nil
        case .string(let s)?: return s
        case let other?: throw error(key, "expected a string, found \(other.typeName)")
        }
    }

    public func double(_ key: String) throws(ConfigError) -> Double {
        guard let v = try optionalDouble(key) else { throw error(nil, "missing required key '\(key)'") }
        return v
    }

    /// A number; integers are accepted where a real number is expected.
    public func optionalDouble(_ key: String) throws(ConfigError) -> Double? {
        switch values[key] {
        case nil: return nil
        case .double(let d)?:
            guard d.isFinite else { throw error(key, "must be a finite number") }
            return d
        case .integer(let i)?: return Double(i)
        case let other?: throw error(key, "expected a number, found \(other.typeName)")
        }
    }

    public func int(_ key: String) throws(ConfigError) -> Int {
        guard let v = try optionalInt(key) else { throw error(nil, "missing required key '\(key)'") }
        return v
    }

    public func optionalInt(_ key: String) throws(ConfigError) -> Int? {
        switch values[key] {
        case nil: return nil
        case .integer(let i)?: return i
        case let other?: throw error(key, "expected an integer, found \(other.typeName)")
        }
    }

    public func optionalBool(_ key: String) throws(ConfigError) -> Bool? {
        switch values[key] {
        case nil: return nil
        case .bool(let b)?: return b
        case let other?: throw error(key, "expected true or false, found \(other.typeName)")
        }
    }

    public func stringArray(_ key: String) throws(ConfigError) -> [String]? {
        switch values[key] {
        case nil: return nil
        case .array(let items)?:
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw error(key, "expected an array of strings") }
                out.append(s)
            }
            return out
        case let other?: throw error(key, "expected an array of strings, found \(other.typeName)")
        }
    }

    /// A number that must lie in `range`.
    public func double(_ key: String, in range: ClosedRange<Double>, default fallback: Double? = nil) throws(ConfigError) -> Double {
        guard let v = try optionalDouble(key) ?? fallback else { throw error(nil, "missing required key '\(key)'") }
        guard range.contains(v) else { throw error(key, "value \(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// An integer that must lie in `range`.
    public func int(_ key: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws(ConfigError) -> Int {
        guard let v = try optionalInt(key) ?? fallback else { throw error(nil, "missing required key '\(key)'") }
        guard range.contains(v) else { throw error(key, "value \(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// One of a fixed set of words.
    public func choice<T>(_ key: String, _ options: [String: T], default fallback: T? = nil) throws(ConfigError) -> T {
        guard let word = try optionalString(key) else {
            guard let fallback else { throw error(nil, "missing required key '\(key)'") }
            return fallback
        }
        guard let v = options[word] else {
            throw error(key, "'\(word)' is not one of \(options.keys.sorted().joined(separator: ", "))")
        }
        return v
    }

    // MARK: Tables

    public func optionalTable(_ key: String) throws(ConfigError) -> ConfigTable? {
        switch values[key] {
        case nil: return nil
        case .table(let t)?: return ConfigTable(values: t, path: path + [key], file: file, locator: locator)
        case let other?: throw error(key, "expected a table, found \(other.typeName)")
        }
    }

    public func table(_ key: String) throws(ConfigError) -> ConfigTable {
        guard let t = try optionalTable(key) else { throw error(nil, "missing required table [\(keyPath(key))]") }
        return t
    }

    /// An array of tables (`[[key]]`), empty when absent.
    public func tables(_ key: String) throws(ConfigError) -> [ConfigTable] {
        switch values[key] {
        case nil: return []
        case .array(let items)?:
            var out: [ConfigTable] = []
            for (i, item) in items.enumerated() {
                guard case .table(let t) = item else { throw error(key, "expected an array of tables ([[\(keyPath(key))]])") }
                out.append(ConfigTable(values: t, path: path + ["\(key)[\(i)]"], file: file, locator: locator))
            }
            return out
        case let other?: throw error(key, "expected an array of tables, found \(other.typeName)")
        }
    }

    /// Resolves a path written in this file relative to the file's folder.
    public func resolvePath(_ value: String) -> String {
        if value.hasPrefix("/") { return value }
        guard let slash = file.lastIndex(of: "/") else { return value }
        return String(file[..<slash]) + "/" + value
    }
}
