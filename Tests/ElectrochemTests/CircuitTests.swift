import Numerics
import Testing
@testable import Electrochem

@Suite("Circuit language and evaluation")
struct CircuitTests {
    @Test("parameter names follow impedance.py")
    func names() throws {
        let circuit = try Circuit("R0-p(R1,C1)-p(R2,C2)-Wo1")
        #expect(circuit.parameterNames == ["R0", "R1", "C1", "R2", "C2", "Wo1_0", "Wo1_1"])
        #expect(circuit.parameterUnits == ["Ω", "Ω", "F", "Ω", "F", "Ω", "s"])
        let nested = try Circuit(" R0 - p(R1, CPE1) - p(R2-Wo1, C2) ")
        #expect(nested.parameterNames == ["R0", "R1", "CPE1_0", "CPE1_1", "R2", "Wo1_0", "Wo1_1", "C2"])
    }

    @Test("parse errors name the column", arguments: [
        ("R0-p(R1,C1", 11, "missing ')'"),
        ("R0-X1", 4, "unknown element 'X'"),
        ("R0--R1", 4, "expected an element"),
        ("R0-p(R1)", 9, "at least two branches"),
        ("R0-R0", 4, "appears twice"),
        ("R0-", 4, "at the end"),
        ("", 1, "empty"),
        ("R0)", 3, "unexpected ')'"),
        ("p(R1;C1)", 5, "expected ',' or ')'"),
    ])
    func parseErrors(text: String, column: Int, fragment: String) {
        #expect {
            _ = try Circuit(text)
        } throws: { error in
            guard let error = error as? CircuitParseError else { return false }
            return error.column == column && error.reason.contains(fragment)
        }
    }

    @Test("Li-ion preset: 17 parameters, inductive ZARC bounded to negative exponents")
    func liIonPreset() throws {
        let circuit = try Circuit("li-ion")
        #expect(circuit.parameterCount == 17)
        let index = try #require(circuit.parameterNames.firstIndex(of: "Zarc1_2"))
        #expect(circuit.defaultBounds[index] == -1...0)
    }

    /// Closed forms worked by hand; hyperbolic functions of a complex argument via
    /// tanh(a+jb) = (sinh 2a + j sin 2b)/(cosh 2a + cos 2b), coth = its inverse.
    @Test("every element against a closed-form value (relative tolerance 1e-12)")
    func exactValues() throws {
        let s2 = 2.0.squareRoot()
        let tanh1j = Complex(Double.sinh(2), Double.sin(2)) / Complex(Double.cosh(2) + Double.cos(2))
        let x = Complex<Double>(1, 1) // √(jωτ) for ωτ = 2
        let cases: [(String, [Double], Double, Complex<Double>)] = [
            ("R1", [5], 1, Complex(5, 0)),
            ("C1", [1e-3], 1, Complex(0, -1000)),
            ("L1", [1e-3], 1000, Complex(0, 1)),
            ("CPE1", [2, 0.5], 1, Complex(1, -1) / Complex(2 * s2)),
            ("La1", [2, 0.5], 2, Complex(s2, s2)),
            ("W1", [3], 4, Complex(1.5, -1.5)),
            ("Wo1", [1, 1], 2, Complex(1) / (tanh1j * x)),
            ("Ws1", [1, 1], 2, tanh1j / x),
            ("G1", [1, 1], 3.0.squareRoot(), Complex(3.0.squareRoot() / 2, -0.5) / Complex(s2)),
            ("K1", [2, 1], 1, Complex(1, -1)),
            ("Zarc1", [2, 1, 0.5], 1, Complex(2) / Complex(1 + 1 / s2, 1 / s2)),
            ("R0-p(R1,C1)", [1, 4, 0.25], 1, Complex(3, -2)),
            ("p(R1,R2,R3)", [2, 3, 6], 1, Complex(1, 0)),
        ]
        for (text, parameters, omega, expected) in cases {
            let circuit = try Circuit(text)
            let z = circuit.impedance(parameters: parameters, frequencies: [omega / (2 * .pi)])[0]
            #expect((z - expected).length <= 1e-12 * expected.length, "\(text): \(z) vs \(expected)")
        }
    }

    @Test("analytic Jacobian matches central finite differences (relative 1e-6)", arguments: [
        "R0-p(R1,CPE1)-p(R2-Wo1,C2)-W1",
        "L1-La1-G1-K1-Zarc1-Ws1",
        "p(R1,p(C1,R2-p(CPE1,Zarc1)))-p(Wo1,Ws1)",
        "li-ion",
    ])
    func jacobian(text: String) throws {
        let circuit = try Circuit(text)
        let frequencies = logFrequencies(from: 1e5, to: 1e-2, count: 15)
        // Positive values of order one, exponents inside their bounds.
        let parameters = circuit.defaultBounds.enumerated().map { i, b in
            b.upperBound <= 1 ? (b.upperBound <= 0 ? -0.7 : 0.7) : 0.05 * Double(i + 1) + 0.01 * Double(i * i)
        }
        let (_, jacobian) = circuit.impedanceAndJacobian(parameters: parameters, frequencies: frequencies)
        let n = circuit.parameterCount
        for i in 0..<n {
            let h = 1e-6 * abs(parameters[i])
            var up = parameters, down = parameters
            up[i] += h
            down[i] -= h
            let zUp = circuit.impedance(parameters: up, frequencies: frequencies)
            let zDown = circuit.impedance(parameters: down, frequencies: frequencies)
            for k in frequencies.indices {
                let numeric = (zUp[k] - zDown[k]) / Complex(2 * h)
                let analytic = jacobian[k * n + i]
                let scale = max(numeric.length, 1e-3 * zUp[k].length / abs(parameters[i]))
                #expect((numeric - analytic).length <= 1e-6 * scale,
                        "\(circuit.parameterNames[i]) at \(frequencies[k]) Hz: \(analytic) vs \(numeric)")
            }
        }
    }
}
