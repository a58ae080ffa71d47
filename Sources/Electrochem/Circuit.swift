import Numerics

/// An equivalent circuit read from impedance.py's string syntax, e.g. `R0-p(R1,CPE1)-p(R2-Wo1,C2)`.
///
/// Parameters form one flat vector in the order the elements appear; names follow impedance.py
/// (`R0`, `CPE1_0`, `CPE1_1`). Evaluation writes into caller-provided buffers and allocates nothing
/// per frequency, so the same circuit can serve fitting, Lin-KK and learned models alike.
public struct Circuit: Sendable, Hashable, CustomStringConvertible {
    public struct Element: Sendable, Hashable {
        public let name: String
        public let kind: ElementKind
        /// Index of the element's first parameter in the parameter vector.
        public let parameterOffset: Int
    }

    /// The circuit string as given (or the expansion of a preset name).
    public let description: String
    public let elements: [Element]
    public let parameterNames: [String]
    public let parameterUnits: [String]
    /// Bounds used by fitting unless the caller overrides them.
    public let defaultBounds: [ClosedRange<Double>]
    let nodes: [CircuitParser.Node]

    public var parameterCount: Int { parameterNames.count }

    /// Named circuits accepted in place of a circuit string.
    public static let presets: [String: (circuit: String, bounds: [String: ClosedRange<Double>])] = [
        // Li-ion cell (Buteau 2019/2021): electrolyte resistance, diffusion CPE, inductive CPE,
        // inductive ZARC (negative exponent) and three electrochemical ZARCs; 17 parameters.
        "li-ion": ("R0-CPE1-La1-Zarc1-Zarc2-Zarc3-Zarc4", ["Zarc1_2": -1...0]),
    ]

    public init(_ string: String) throws(CircuitParseError) {
        let trimmed = string.trimmingWhitespace()
        let preset = Circuit.presets[trimmed.lowercased()]
        let source = preset?.circuit ?? string
        let parsed = try CircuitParser.parse(source)
        var elements: [Element] = []
        var names: [String] = []
        var units: [String] = []
        var bounds: [ClosedRange<Double>] = []
        for (name, kind) in parsed.elements {
            elements.append(Element(name: name, kind: kind, parameterOffset: names.count))
            if kind.parameterCount == 1 {
                names.append(name)
            } else {
                names += (0..<kind.parameterCount).map { "\(name)_\($0)" }
            }
            units += kind.units
            bounds += kind.defaultBounds
        }
        for (name, range) in preset?.bounds ?? [:] {
            if let index = names.firstIndex(of: name) { bounds[index] = range }
        }
        self.description = source
        self.elements = elements
        self.parameterNames = names
        self.parameterUnits = units
        self.defaultBounds = bounds
        self.nodes = parsed.nodes
    }

    /// Scratch space for evaluation, sized once per circuit and reused across calls.
    public struct Workspace: Sendable {
        var impedance: [Complex<Double>]
        var accumulator: [Complex<Double>]
        var sensitivity: [Complex<Double>]

        public init(for circuit: Circuit) {
            let zeros = [Complex<Double>](repeating: .zero, count: circuit.nodes.count)
            impedance = zeros
            accumulator = zeros
            sensitivity = zeros
        }
    }

    /// Impedance at each frequency (Hz) for a parameter vector.
    public func impedance(parameters: [Double], frequencies: [Double]) -> [Complex<Double>] {
        var workspace = Workspace(for: self)
        var result = [Complex<Double>](repeating: .zero, count: frequencies.count)
        parameters.withUnsafeBufferPointer { p in
            frequencies.withUnsafeBufferPointer { f in
                result.withUnsafeMutableBufferPointer { z in
                    evaluate(parameters: p, frequencies: f, impedance: z, jacobian: nil, workspace: &workspace)
                }
            }
        }
        return result
    }

    /// Impedance and Jacobian for a parameter vector; `jacobian[k * parameterCount + i] = ∂Z(f_k)/∂p_i`.
    public func impedanceAndJacobian(parameters: [Double], frequencies: [Double]) -> (impedance: [Complex<Double>], jacobian: [Complex<Double>]) {
        var workspace = Workspace(for: self)
        var z = [Complex<Double>](repeating: .zero, count: frequencies.count)
        var jacobian = [Complex<Double>](repeating: .zero, count: frequencies.count * parameterCount)
        parameters.withUnsafeBufferPointer { p in
            frequencies.withUnsafeBufferPointer { f in
                z.withUnsafeMutableBufferPointer { zb in
                    jacobian.withUnsafeMutableBufferPointer { jb in
                        evaluate(parameters: p, frequencies: f, impedance: zb, jacobian: jb, workspace: &workspace)
                    }
                }
            }
        }
        return (z, jacobian)
    }

    /// Evaluates into caller-provided buffers: `impedance` holds one value per frequency;
    /// `jacobian`, when given, `frequencies.count × parameterCount` values, row-major by frequency.
    ///
    /// Impedances are computed bottom-up; derivatives top-down through the chain factor
    /// `∂Z/∂Z_node` (1 through a series, `(Z_parallel/Z_branch)²` through a parallel block).
    public func evaluate(parameters: UnsafeBufferPointer<Double>,
                         frequencies: UnsafeBufferPointer<Double>,
                         impedance: UnsafeMutableBufferPointer<Complex<Double>>,
                         jacobian: UnsafeMutableBufferPointer<Complex<Double>>?,
                         workspace: inout Workspace) {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters")
        precondition(impedance.count >= frequencies.count)
        precondition(jacobian.map { $0.count >= frequencies.count * parameterCount } ?? true)
        let count = nodes.count
        nodes.withUnsafeBufferPointer { nodes in
        elements.withUnsafeBufferPointer { elements in
        workspace.impedance.withUnsafeMutableBufferPointer { z in
        workspace.accumulator.withUnsafeMutableBufferPointer { sum in
        workspace.sensitivity.withUnsafeMutableBufferPointer { s in
            let width = parameterCount
            for k in 0..<frequencies.count {
                let omega = 2 * Double.pi * frequencies[k]
                for i in 0..<count { sum[i] = .zero }
                for i in stride(from: count - 1, through: 0, by: -1) {
                    switch nodes[i].kind {
                    case .element(let e):
                        let element = elements[e]
                        let range = element.parameterOffset..<(element.parameterOffset + element.kind.parameterCount)
                        let d = jacobian.map { UnsafeMutableBufferPointer(rebasing: $0[(k * width + range.lowerBound)..<(k * width + range.upperBound)]) }
                        z[i] = element.kind.evaluate(omega: omega, UnsafeBufferPointer(rebasing: parameters[range]), derivatives: d)
                    case .series:
                        z[i] = sum[i]
                    case .parallel:
                        z[i] = sum[i].inverse
                    }
                    let parent = nodes[i].parent
                    if parent >= 0 {
                        sum[parent] += nodes[parent].kind == .parallel ? z[i].inverse : z[i]
                    }
                }
                impedance[k] = z[0]
                guard let jacobian else { continue }
                s[0] = Complex(1)
                for i in 0..<count {
                    let parent = nodes[i].parent
                    if parent >= 0 {
                        if nodes[parent].kind == .parallel {
                            let ratio = z[parent] * z[i].inverse
                            s[i] = s[parent] * ratio * ratio
                        } else {
                            s[i] = s[parent]
                        }
                    }
                    if case .element(let e) = nodes[i].kind {
                        let offset = k * width + elements[e].parameterOffset
                        for q in offset..<(offset + elements[e].kind.parameterCount) { jacobian[q] *= s[i] }
                    }
                }
            }
        }}}}}
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
