/// The model file: UTF-8 text, versioned, self-describing.
///
/// ```
/// cellbench-inverse-model 2
/// family: li-ion R0-CPE1-La1-Zarc1-Zarc2-Zarc3-Zarc4
/// normalisation: Z/mean|Z|, ln(omega) - |Z|-weighted mean
/// switches: inductor loop arc2 arc3 warburg   (input channels after w, Re Z, Im Z, mask)
/// shape: 16 32 7 64 17          (width0 width1 kernel hidden outputs)
/// prior: <17 numbers>
/// threshold: 0.1
/// recipe.<key>: <value>         (any number)
/// weights: <count>
/// <count numbers, whitespace-separated, single precision>
/// ```
///
/// Version 1 files (no switch inputs) are refused with an error that says to retrain.
public struct InverseModelFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

extension InverseModel {
    static let magic = "cellbench-inverse-model"
    static let familyLine = "li-ion R0-CPE1-La1-Zarc1-Zarc2-Zarc3-Zarc4"
    static let normalisationLine = "Z/mean|Z|, ln(omega) - |Z|-weighted mean"
    static let switchesLine = CircuitVariant.switchNames.joined(separator: " ")

    /// The file's text.
    public func serialized() -> String {
        let s = network.shape
        var lines = [
            "\(Self.magic) \(Self.formatVersion)",
            "family: \(Self.familyLine)",
            "normalisation: \(Self.normalisationLine)",
            "switches: \(Self.switchesLine)",
            "shape: \(s.width0) \(s.width1) \(s.kernel) \(s.hidden) \(s.outputs)",
            "prior: " + priorMean.map { "\($0)" }.joined(separator: " "),
            "threshold: \(properFitThreshold)",
        ]
        for key in recipe.keys.sorted() { lines.append("recipe.\(key): \(recipe[key] ?? "")") }
        lines.append("weights: \(network.weights.count)")
        let numbers = network.weights.map { "\(Float($0))" }
        for start in stride(from: 0, to: numbers.count, by: 8) {
            lines.append(numbers[start..<min(start + 8, numbers.count)].joined(separator: " "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads a model file's bytes; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws(InverseModelFileError) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw InverseModelFileError(file: name, line: 1, reason: "not UTF-8 text")
        }
        try self.init(text: text, name: name)
    }

    public init(text: String, name: String) throws(InverseModelFileError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func fail(_ line: Int, _ reason: String) -> InverseModelFileError {
            InverseModelFileError(file: name, line: line + 1, reason: reason)
        }
        guard let first = lines.first, first.hasPrefix(Self.magic + " ") else {
            throw fail(0, "not a cellbench inverse model (expected '\(Self.magic) \(Self.formatVersion)')")
        }
        guard first == "\(Self.magic) \(Self.formatVersion)" else {
            let version = first.dropFirst(Self.magic.count + 1)
            let hint = version == "1" ? "; version 1 models have no circuit-variant switch inputs: retrain with cellbench train-inverse" : ""
            throw fail(0, "format version '\(version)' is not supported (expected \(Self.formatVersion))" + hint)
        }
        var fields: [String: (line: Int, value: String)] = [:]
        var recipe: [String: String] = [:]
        var index = 1
        while index < lines.count {
            let line = lines[index]
            guard let colon = line.firstIndex(of: ":") else { throw fail(index, "expected 'key: value'") }
            let key = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            if key.hasPrefix("recipe.") { recipe[String(key.dropFirst(7))] = value } else { fields[key] = (index, value) }
            index += 1
            if key == "weights" { break }
        }
        func field(_ key: String) throws(InverseModelFileError) -> (line: Int, value: String) {
            guard let entry = fields[key] else { throw fail(index - 1, "missing '\(key):' line") }
            return entry
        }
        func numbers(_ key: String, count: Int) throws(InverseModelFileError) -> [Double] {
            let (line, value) = try field(key)
            let parts = value.split(separator: " ")
            let parsed = parts.compactMap { Double($0) }
            guard parsed.count == parts.count, parsed.count == count, parsed.allSatisfy(\.isFinite) else {
                throw fail(line, "'\(key)' needs \(count) finite numbers, got '\(value)'")
            }
            return parsed
        }
        let family = try field("family")
        guard family.value == Self.familyLine else {
            throw fail(family.line, "circuit family '\(family.value)' is not supported (expected '\(Self.familyLine)')")
        }
        let switches = try field("switches")
        guard switches.value == Self.switchesLine else {
            throw fail(switches.line, "switch inputs '\(switches.value)' are not supported (expected '\(Self.switchesLine)')")
        }
        let rawShape = try numbers("shape", count: 5)
        guard rawShape.allSatisfy({ $0 >= 1 && $0 <= 4096 && $0 == $0.rounded() }) else {
            throw fail(try field("shape").line, "shape entries must be whole numbers from 1 to 4096")
        }
        let shapeValues = rawShape.map { Int($0) }
        var shape = InverseNetwork.Shape()
        shape.width0 = shapeValues[0]; shape.width1 = shapeValues[1]; shape.kernel = shapeValues[2]
        shape.hidden = shapeValues[3]; shape.outputs = shapeValues[4]
        guard shape.outputs == LiIonFamily.parameterCount, shape.kernel % 2 == 1 else {
            throw fail(try field("shape").line, "shape \(shapeValues) is not valid for the li-ion family (odd kernel, \(LiIonFamily.parameterCount) outputs)")
        }
        let prior = try numbers("prior", count: LiIonFamily.parameterCount)
        let threshold = try numbers("threshold", count: 1)[0]
        let expected = InverseNetwork.parameterCount(shape)
        let declared = try numbers("weights", count: 1)[0]
        guard declared == Double(expected) else {
            throw fail(try field("weights").line, "\(Int(declared)) weights declared; the shape needs \(expected)")
        }
        var weights: [Double] = []
        weights.reserveCapacity(expected)
        while index < lines.count {
            for token in lines[index].split(separator: " ") {
                guard let value = Float(token), value.isFinite else { throw fail(index, "'\(token)' is not a finite number") }
                weights.append(Double(value))
            }
            index += 1
        }
        guard weights.count == expected else {
            throw fail(lines.count - 1, "\(weights.count) weights in the file; the shape needs \(expected)")
        }
        self.init(network: InverseNetwork(shape: shape, weights: weights), priorMean: prior,
                  properFitThreshold: threshold, recipe: recipe)
    }
}
