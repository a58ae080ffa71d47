/// A circuit string that could not be read, with the 1-based column where reading stopped.
public struct CircuitParseError: Error, Equatable, CustomStringConvertible {
    public let circuit: String
    public let column: Int
    public let reason: String

    public var description: String { "circuit '\(circuit)', column \(column): \(reason)" }
}

/// Reads impedance.py's circuit syntax: `-` joins in series, `p(a,b,…)` in parallel,
/// elements are a kind followed by a label (`R0`, `CPE1`, `Wo1`), whitespace is ignored.
struct CircuitParser {
    enum NodeKind: Hashable, Sendable {
        case element(Int)
        case series
        case parallel
    }

    struct Node: Hashable, Sendable {
        var kind: NodeKind
        /// Index of the enclosing node in pre-order, -1 for the root.
        var parent: Int
    }

    private let text: String
    private let characters: [Character]
    private var position = 0
    private(set) var nodes: [Node] = []
    private(set) var elements: [(name: String, kind: ElementKind)] = []

    static func parse(_ text: String) throws(CircuitParseError) -> (nodes: [Node], elements: [(name: String, kind: ElementKind)]) {
        var parser = CircuitParser(text: text)
        parser.skipSpaces()
        if parser.atEnd { throw parser.error("the circuit is empty") }
        try parser.parseSeries(parent: -1)
        parser.skipSpaces()
        if !parser.atEnd { throw parser.error("unexpected '\(parser.characters[parser.position])'") }
        return (parser.nodes, parser.elements)
    }

    private init(text: String) {
        self.text = text
        self.characters = Array(text)
    }

    private var atEnd: Bool { position >= characters.count }

    private func error(_ reason: String, at column: Int? = nil) -> CircuitParseError {
        CircuitParseError(circuit: text, column: column ?? position + 1, reason: reason)
    }

    private mutating func skipSpaces() {
        while !atEnd, characters[position].isWhitespace { position += 1 }
    }

    /// A series of one term is that term itself, so `p(R1,C1)` has two element children.
    private mutating func parseSeries(parent: Int) throws(CircuitParseError) {
        let start = nodes.count
        nodes.append(Node(kind: .series, parent: parent))
        var terms = 0
        repeat {
            try parseTerm(parent: start)
            terms += 1
            skipSpaces()
            guard !atEnd, characters[position] == "-" else { break }
            position += 1
        } while true
        if terms == 1 {
            // Drop the wrapper: the single term takes its place and its parent.
            nodes.remove(at: start)
            for index in start..<nodes.count where nodes[index].parent >= start {
                nodes[index].parent = nodes[index].parent == start ? parent : nodes[index].parent - 1
            }
        }
    }

    private mutating func parseTerm(parent: Int) throws(CircuitParseError) {
        skipSpaces()
        guard !atEnd else { throw error("expected an element or 'p(' at the end of the circuit") }
        let start = position
        var letters = ""
        while !atEnd, characters[position].isLetter { letters.append(characters[position]); position += 1 }
        if letters.isEmpty { throw error("expected an element or 'p(', found '\(characters[position])'") }
        skipSpaces()
        if letters == "p", !atEnd, characters[position] == "(" {
            position += 1
            try parseParallel(parent: parent, openedAt: start + 1)
            return
        }
        position = start + letters.count
        var label = ""
        while !atEnd, characters[position].isNumber || characters[position] == "_" {
            label.append(characters[position]); position += 1
        }
        guard let kind = ElementKind(rawValue: letters) else {
            let known = ElementKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw error("unknown element '\(letters)' (known: \(known))", at: start + 1)
        }
        let name = letters + label
        if elements.contains(where: { $0.name == name }) {
            throw error("element '\(name)' appears twice; number each element differently", at: start + 1)
        }
        nodes.append(Node(kind: .element(elements.count), parent: parent))
        elements.append((name, kind))
    }

    private mutating func parseParallel(parent: Int, openedAt column: Int) throws(CircuitParseError) {
        let index = nodes.count
        nodes.append(Node(kind: .parallel, parent: parent))
        var branches = 0
        while true {
            try parseSeries(parent: index)
            branches += 1
            skipSpaces()
            guard !atEnd else { throw error("missing ')' to close the 'p(' opened at column \(column)") }
            if characters[position] == "," { position += 1; continue }
            if characters[position] == ")" { position += 1; break }
            throw error("expected ',' or ')', found '\(characters[position])'")
        }
        if branches < 2 { throw error("a parallel block 'p(…)' needs at least two branches") }
    }
}
