import Numerics

extension Circuit {
    /// Blocks in series with the same structure (`p(R1,CPE1)-p(R2,CPE2)`) are interchangeable:
    /// swapping their parameters leaves the impedance unchanged. Fits report them in one order,
    /// highest characteristic frequency first (the frequency where the block's −Im Z peaks), so
    /// that parameters tracked sweep after sweep do not jump between names.
    /// Returns, for each parameter index, the index whose value it should take.
    func canonicalPermutation(parameters: [Double], frequencies: [Double], locked: Set<Int>) -> [Int] {
        var permutation = Array(0..<parameterCount)
        guard nodes.first?.kind == .series else { return permutation }
        let blocks = nodes.indices.filter { nodes[$0].parent == 0 }
        var groups: [String: [Int]] = [:]
        for block in blocks { groups[signature(block), default: []].append(block) }
        for (_, members) in groups where members.count > 1 {
            let ranges = members.map(parameterRange)
            guard ranges.allSatisfy({ !$0.contains(where: locked.contains) }) else { continue }
            let peaks = members.map { peakFrequency(of: $0, parameters: parameters, frequencies: frequencies) }
            let order = members.indices.sorted { peaks[$0] > peaks[$1] }
            for (slot, source) in order.enumerated() {
                for (target, from) in zip(ranges[slot], ranges[source]) { permutation[target] = from }
            }
        }
        return permutation
    }

    private func subtree(_ node: Int) -> [Int] {
        var members = [node]
        for i in (node + 1)..<nodes.count where members.contains(nodes[i].parent) { members.append(i) }
        return members
    }

    /// Structure of a subtree (node and element kinds in pre-order with parent offsets) and the
    /// default bounds of its parameters: blocks are interchangeable only if both agree.
    private func signature(_ node: Int) -> String {
        let bounds = parameterRange(node).map { "\(defaultBounds[$0])" }.joined(separator: ";")
        return bounds + "|" + subtree(node).map { i in
            let kind: String
            switch nodes[i].kind {
            case .element(let e): kind = elements[e].kind.rawValue
            case .series: kind = "s"
            case .parallel: kind = "p"
            }
            return i == node ? kind : "\(kind)\(nodes[i].parent - node)"
        }.joined(separator: ",")
    }

    private func parameterRange(_ node: Int) -> [Int] {
        subtree(node).flatMap { i -> [Int] in
            guard case .element(let e) = nodes[i].kind else { return [] }
            let element = elements[e]
            return Array(element.parameterOffset..<(element.parameterOffset + element.kind.parameterCount))
        }
    }

    private func peakFrequency(of node: Int, parameters: [Double], frequencies: [Double]) -> Double {
        var best = (frequency: 0.0, reactance: -Double.infinity)
        for f in frequencies {
            let reactance = -impedance(of: node, parameters: parameters, omega: 2 * .pi * f).imaginary
            if reactance > best.reactance { best = (f, reactance) }
        }
        return best.frequency
    }

    /// Impedance of one node's subtree; used once per fit, so plain recursion will do.
    private func impedance(of node: Int, parameters: [Double], omega: Double) -> Complex<Double> {
        switch nodes[node].kind {
        case .element(let e):
            let element = elements[e]
            let slice = Array(parameters[element.parameterOffset..<(element.parameterOffset + element.kind.parameterCount)])
            return slice.withUnsafeBufferPointer { element.kind.evaluate(omega: omega, $0, derivatives: nil) }
        case .series:
            return nodes.indices.filter { nodes[$0].parent == node }
                .reduce(Complex<Double>.zero) { $0 + impedance(of: $1, parameters: parameters, omega: omega) }
        case .parallel:
            let admittance = nodes.indices.filter { nodes[$0].parent == node }
                .reduce(Complex<Double>.zero) { $0 + Complex(1) / impedance(of: $1, parameters: parameters, omega: omega) }
            return Complex(1) / admittance
        }
    }
}
