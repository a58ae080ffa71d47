#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the source line of a key, so that errors found after parsing can
/// still point at a line. It follows table headers (`[a.b]`, `[[a]]`) and
/// numbers array-of-table entries the way `ConfigTable` paths do
/// (`instruments[2].port`). Keys inside inline tables resolve to the line of
/// the enclosing key or table.
struct LineLocator: Sendable {
    /// Section path (e.g. `instruments[2].serial`) → line of its header.
    private var headers: [String: Int] = [:]
    /// "section\u{0}key" → line of `key = …` in that section.
    private var keys: [String: Int] = [:]

    init(source: String) {
        var section: [String] = []
        var counters: [String: Int] = [:]
        for (index, raw) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let text = raw.drop(while: { $0 == " " || $0 == "\t" })
            if text.hasPrefix("[[") {
                guard let end = text.range(of: "]]") else { continue }
                let names = Self.components(text[text.index(text.startIndex, offsetBy: 2)..<end.lowerBound])
                let parent = Self.resolve(Array(names.dropLast()), against: section)
                let base = (parent + [names.last ?? ""]).joined(separator: ".")
                let n = counters[base, default: -1] + 1
                counters[base] = n
                section = parent + ["\(names.last ?? "")[\(n)]"]
                headers[section.joined(separator: "."), default: line] = line
            } else if text.hasPrefix("[") {
                guard let end = text.firstIndex(of: "]") else { continue }
                let names = Self.components(text[text.index(after: text.startIndex)..<end])
                section = Self.resolve(Array(names.dropLast()), against: section) + [names.last ?? ""]
                headers[section.joined(separator: "."), default: line] = line
            } else if let eq = text.firstIndex(of: "="), !text.hasPrefix("#") {
                let key = Self.components(text[..<eq]).first ?? ""
                let id = section.joined(separator: ".") + "\u{0}" + key
                if keys[id] == nil { keys[id] = line }
            }
        }
    }

    func line(ofKey key: String?, inSection section: String) -> Int? {
        if let key, let line = keys[section + "\u{0}" + key] { return line }
        if let line = headers[section] { return line }
        // A table given inline or implicitly: point at the nearest enclosing key.
        guard let dot = section.lastIndex(of: ".") else {
            return section.isEmpty ? nil : keys["\u{0}" + Self.stripIndex(section)]
        }
        let parent = String(section[..<dot])
        let last = Self.stripIndex(String(section[section.index(after: dot)...]))
        return line(ofKey: last, inSection: parent)
    }

    private static func stripIndex(_ s: String) -> String {
        s.firstIndex(of: "[").map { String(s[..<$0]) } ?? s
    }

    /// Splits a dotted key into components, unquoting quoted parts.
    private static func components(_ text: Substring) -> [String] {
        text.split(separator: ".").map { part in
            var p = part.trimmingSpaces()
            if p.count >= 2, let f = p.first, f == "\"" || f == "'", p.last == f { p = String(p.dropFirst().dropLast()) }
            return p
        }
    }

    /// Gives header components the array indices of the current section where they match.
    private static func resolve(_ names: [String], against current: [String]) -> [String] {
        var out: [String] = []
        for (i, name) in names.enumerated() {
            if i < current.count, stripIndex(current[i]) == name { out.append(current[i]) } else { out.append(name) }
        }
        return out
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// Reads a whole UTF-8 text file without Foundation.
func readTextFile(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else {
        throw ConfigFileError(message: String(cString: strerror(errno)))
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    if ferror(f) != 0 { throw ConfigFileError(message: "read error") }
    return String(decoding: bytes, as: UTF8.self)
}

struct ConfigFileError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
