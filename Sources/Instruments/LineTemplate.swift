#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value sent in a command or parsed from a reply of a line protocol.
public enum LineValue: Equatable, Sendable {
    case number(Double)
    case integer(Int)
    case word(String)

    public var number: Double? {
        switch self {
        case .number(let d): return d
        case .integer(let i): return Double(i)
        case .word: return nil
        }
    }
    public var integer: Int? {
        if case .integer(let i) = self { return i }
        return nil
    }
    public var word: String? {
        switch self {
        case .word(let s): return s
        case .integer(let i): return String(i)
        case .number(let d): return String(d)
        }
    }
}

/// A command or reply pattern of a line protocol: literal text with `{name}`
/// or `{name:f|i|s}` fields (number in NR3 form, integer, word; `f` by default).
public struct LineTemplate: Equatable, Sendable, CustomStringConvertible {
    public enum FieldType: Character, Sendable { case number = "f", integer = "i", word = "s" }
    enum Segment: Equatable, Sendable {
        case literal(String)
        case field(name: String, type: FieldType)
    }
    let segments: [Segment]
    public let description: String

    /// Parses a template; the error says what is wrong in it.
    public init(_ text: String) throws(TemplateError) {
        var segments: [Segment] = []
        var literal = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "{" {
                guard let close = text[i...].firstIndex(of: "}") else { throw TemplateError("unclosed '{'") }
                let spec = text[text.index(after: i)..<close]
                let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
                let name = String(parts[0])
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw TemplateError("bad field name '\(name)'")
                }
                var type = FieldType.number
                if parts.count == 2 {
                    guard parts[1].count == 1, let t = parts[1].first.flatMap(FieldType.init(rawValue:)) else {
                        throw TemplateError("field '\(name)' has unknown type '\(parts[1])' (use f, i or s)")
                    }
                    type = t
                } else if parts.count > 2 {
                    throw TemplateError("field '\(name)' has more than one ':'")
                }
                if !literal.isEmpty { segments.append(.literal(literal)); literal = "" }
                if case .field = segments.last {
                    throw TemplateError("fields '\(name)' and the one before need a separator between them")
                }
                segments.append(.field(name: name, type: type))
                i = text.index(after: close)
            } else if c == "}" {
                throw TemplateError("unmatched '}'")
            } else {
                literal.append(c)
                i = text.index(after: i)
            }
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        self.segments = segments
        self.description = text
    }

    public var fieldNames: [String] {
        segments.compactMap { if case .field(let name, _) = $0 { return name } else { return nil } }
    }

    /// Renders a command; every field must have a value.
    public func render(_ values: [String: LineValue]) throws(TemplateError) -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .field(let name, let type):
                guard let value = values[name] else { throw TemplateError("no value for field '\(name)'") }
                switch type {
                case .number:
                    guard let d = value.number, d.isFinite else { throw TemplateError("field '\(name)' needs a finite number") }
                    out += Self.nr3(d)
                case .integer:
                    guard let d = value.number, d.isFinite, d == d.rounded() else { throw TemplateError("field '\(name)' needs an integer") }
                    out += String(Int(d))
                case .word:
                    guard let s = value.word else { throw TemplateError("field '\(name)' needs a word") }
                    out += s
                }
            }
        }
        return out
    }

    /// NR3 form with 6 significant decimals, e.g. `+1.234500E+03`.
    static func nr3(_ value: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 32)
        _ = buffer.withUnsafeMutableBufferPointer { ptr in
            withVaList([value]) { vsnprintf(ptr.baseAddress, 32, "%+.6E", $0) }
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Parses a reply line. Bytes before the reply (line noise, a stale
    /// fragment) are skipped: the first start position from which the whole
    /// rest of the line matches wins. Returns nil when nothing matches.
    public func parse(_ line: String) -> [String: LineValue]? {
        let bytes = Array(line.utf8)
        for start in 0..<max(1, bytes.count) {
            var values: [String: LineValue] = [:]
            if match(bytes, from: start, segment: 0, into: &values) { return values }
        }
        return nil
    }

    private func match(_ bytes: [UInt8], from position: Int, segment index: Int, into values: inout [String: LineValue]) -> Bool {
        guard index < segments.count else { return position == bytes.count }
        switch segments[index] {
        case .literal(let s):
            let lit = Array(s.utf8)
            guard bytes.count - position >= lit.count, Array(bytes[position..<position + lit.count]) == lit else { return false }
            return match(bytes, from: position + lit.count, segment: index + 1, into: &values)
        case .field(let name, let type):
            // A field ends where the next literal starts, or at the end of the line.
            var ends: [Int] = []
            if index + 1 < segments.count, case .literal(let next) = segments[index + 1], let first = next.utf8.first {
                for end in position..<bytes.count where bytes[end] == first { ends.append(end) }
            } else {
                ends = [bytes.count]
            }
            // A word stops at the first separator, so that noise before a reply cannot pass for part of a word.
            if type == .word, let first = ends.first { ends = [first] }
            for end in ends {
                let text = String(decoding: bytes[position..<end], as: UTF8.self)
                guard let value = Self.value(text, type) else { continue }
                values[name] = value
                if match(bytes, from: end, segment: index + 1, into: &values) { return true }
            }
            values[name] = nil
            return false
        }
    }

    private static func value(_ text: String, _ type: FieldType) -> LineValue? {
        switch type {
        case .integer:
            return Int(text.hasPrefix("+") ? String(text.dropFirst()) : text).map(LineValue.integer)
        case .number:
            guard !text.isEmpty, text.utf8.allSatisfy({ "+-.0123456789eE".utf8.contains($0) }),
                  let d = Double(text), d.isFinite else { return nil }
            return .number(d)
        case .word:
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            return .word(text)
        }
    }
}

public struct TemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
