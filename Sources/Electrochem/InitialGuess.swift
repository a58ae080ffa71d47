import Numerics

/// Features read off a spectrum's shape, from which starting values are derived.
struct SpectrumShape {
    struct Arc { var resistance: Double; var peakOmega: Double }

    /// Re Z where the spectrum crosses the real axis at high frequency, Ω.
    var highFrequencyResistance: Double
    /// From Im Z at the highest frequency when it is inductive, H (0 otherwise).
    var inductance: Double
    /// Capacitive arcs, highest frequency first.
    var arcs: [Arc]
    /// −Im Z and ω at the lowest frequency, and the slope −d ln(−Im Z)/d ln ω of the
    /// low-frequency tail (≈ 0.5 for diffusion, 1 for a capacitor).
    var tailReactance: Double
    var tailOmega: Double
    var tailSlope: Double
    /// Re Z at the lowest frequency minus the high-frequency resistance, Ω.
    var totalResistance: Double
    var highestOmega: Double
    var typicalModulus: Double

    init(_ spectrum: Spectrum) {
        let order = spectrum.frequencies.indices.sorted { spectrum.frequencies[$0] > spectrum.frequencies[$1] }
        let omega = order.map { 2 * Double.pi * spectrum.frequencies[$0] }
        let re = order.map { spectrum.impedance[$0].real }
        let y = order.map { -spectrum.impedance[$0].imaginary }
        let n = order.count
        let moduli = spectrum.impedance.map(\.length).sorted()
        typicalModulus = max(moduli[n / 2], .leastNormalMagnitude)
        highestOmega = omega[0]
        tailOmega = omega[n - 1]

        // High-frequency intercept: interpolate Re Z where −Im Z turns positive.
        var first = 0
        while first < n - 1, y[first] < 0 { first += 1 }
        if first > 0, y[first] > y[first - 1] {
            let t = -y[first - 1] / (y[first] - y[first - 1])
            highFrequencyResistance = re[first - 1] + t * (re[first] - re[first - 1])
        } else {
            highFrequencyResistance = re[first]
        }
        if !(highFrequencyResistance > 0) { highFrequencyResistance = 0.01 * typicalModulus }
        inductance = y[0] < 0 ? -y[0] / omega[0] : 0

        // Peaks of −Im Z (lightly smoothed against noise) that stand out of a 5-point
        // neighbourhood, rise 3% above the valleys on both sides and reach a fifth of the tallest.
        let smooth: [Double] = (0..<n).map { i in
            let sum: Double = y[max(0, i - 1)] + 2 * y[i] + y[min(n - 1, i + 1)]
            return sum / 4
        }
        var candidates: [Int] = []
        // The lowest-frequency point is a tail, not a peak.
        for i in first..<(n - 1) where smooth[i] > 0 {
            let window = max(first, i - 2)...min(n - 1, i + 2)
            if window.allSatisfy({ smooth[$0] <= smooth[i] }) { candidates.append(i) }
        }
        // Noise makes small bumps; an arc reaches a fifth of the tallest local maximum.
        let highest = candidates.map { smooth[$0] }.max() ?? 0
        let peaks = candidates.enumerated().filter { c, i in
            let leftEnd = c > 0 ? candidates[c - 1] : first
            let rightEnd = c + 1 < candidates.count ? candidates[c + 1] : n - 1
            let leftValley = (leftEnd...i).map { smooth[$0] }.min() ?? 0
            let rightValley = (i...rightEnd).map { smooth[$0] }.min() ?? 0
            return smooth[i] > 0.2 * highest && smooth[i] - max(leftValley, rightValley) > 0.03 * smooth[i]
        }.map(\.element)
        var valleys: [Int] = []
        for (a, b) in zip(peaks, peaks.dropFirst() + [n - 1]) {
            valleys.append((a...b).min { y[$0] < y[$1] } ?? b)
        }
        var arcs: [Arc] = []
        var left = highFrequencyResistance
        for (peak, valley) in zip(peaks, valleys) {
            let width = re[valley] - left
            arcs.append(Arc(resistance: width > 0 ? width : 2 * y[peak], peakOmega: omega[peak]))
            left = re[valley]
        }
        let total = re[n - 1] - highFrequencyResistance
        totalResistance = total > 0 ? total : typicalModulus
        // An arc narrower than 3% of the whole spectrum is noise, not a process.
        let smallest = 0.03 * totalResistance
        self.arcs = arcs.filter { $0.resistance >= smallest }
        tailReactance = max(y[n - 1], 1e-3 * typicalModulus)
        if n >= 3, y[n - 1] > 0, y[n - 3] > 0 {
            let slope = -(Double.log(y[n - 1]) - Double.log(y[n - 3])) / (Double.log(omega[n - 1]) - Double.log(omega[n - 3]))
            tailSlope = min(max(slope, 0.2), 1)
        } else {
            tailSlope = 0.5
        }
    }

    /// Candidate sets of exactly `count` arcs, most likely first. First the arcs found (the
    /// largest, when more stand out than needed). Then, because a shoulder or a split arc does not
    /// show where the other arcs lie, the largest arcs found with the rest placed one, two or three
    /// decades below them or a decade above, sharing the unexplained resistance; and all arcs
    /// spread evenly in log-frequency over the band, its upper or its lower part.
    func arcCandidates(count: Int) -> [[Arc]] {
        guard count > 0 else { return [[]] }
        let ranked = arcs.indices.sorted { arcs[$0].resistance > arcs[$1].resistance }
        var candidates: [[Arc]] = []
        if arcs.count >= count { candidates.append(ranked.prefix(count).sorted().map { arcs[$0] }) }
        let low = Double.log(tailOmega), high = Double.log(highestOmega)
        for anchors in Set([min(arcs.count, count - 1), 1]).sorted(by: >) where anchors >= 1 && anchors <= arcs.count && anchors < count {
            let found = ranked.prefix(anchors).sorted().map { arcs[$0] }
            let missing = count - anchors
            let explained = found.reduce(0) { $0 + $1.resistance }
            let share = max(totalResistance - explained, 0.1 * totalResistance) / Double(missing)
            func shifted(from omega: Double, decades: Double) -> [Arc] {
                (0..<missing).map { i in
                    Arc(resistance: share, peakOmega: min(max(omega * Double.pow(10, decades * Double(i + 1)), tailOmega), highestOmega))
                }
            }
            guard let first = found.first, let last = found.last else { continue }
            candidates += [found + shifted(from: last.peakOmega, decades: -1),
                           found + shifted(from: last.peakOmega, decades: -2),
                           shifted(from: first.peakOmega, decades: 1).reversed() + found,
                           found + shifted(from: last.peakOmega, decades: -3)]
        }
        for (from, to) in [(0.0, 1.0), (0.0, 0.6), (0.4, 1.0)] {
            candidates.append((0..<count).map { i in
                let t = from + (to - from) * Double(i + 1) / Double(count + 1)
                return Arc(resistance: totalResistance / Double(count), peakOmega: Double.exp(high + t * (low - high)))
            })
        }
        return candidates
    }
}

extension Circuit {
    /// Starting values from the spectrum's shape: the series resistor from the high-frequency
    /// intercept, each arc-like block (parallel block, ZARC, Gerischer, RC) from one capacitive
    /// arc in order of decreasing frequency, diffusion elements from the low-frequency tail.
    public func initialGuess(for spectrum: Spectrum) -> [Double] {
        initialGuesses(for: spectrum)[0]
    }

    /// Every starting point the spectrum's shape suggests, most likely first (several when
    /// fewer arcs stand out than the circuit has).
    public func initialGuesses(for spectrum: Spectrum) -> [[Double]] {
        guard spectrum.count > 0 else { return [[Double](repeating: 1, count: parameterCount)] }
        let shape = SpectrumShape(spectrum)
        let topLevel = nodes[0].kind == .series ? nodes.indices.filter { nodes[$0].parent == 0 } : [0]
        let arcItems = topLevel.filter(isArcLike)
        return shape.arcCandidates(count: arcItems.count).map { guess(shape: shape, topLevel: topLevel, arcs: $0) }
    }

    private func guess(shape: SpectrumShape, topLevel: [Int], arcs arcList: [SpectrumShape.Arc]) -> [Double] {
        var guess = [Double](repeating: 1, count: parameterCount)
        var arcs = arcList[...]
        var seriesResistorSeen = false
        for item in topLevel {
            let arc = isArcLike(item) ? arcs.popFirst() : nil
            for node in nodes.indices where node == item || isDescendant(node, of: item) {
                guard case .element(let e) = nodes[node].kind else { continue }
                let element = elements[e]
                let values = guessElement(element, arc: arc, shape: shape, firstSeriesResistor: !seriesResistorSeen)
                if element.kind == .R, arc == nil { seriesResistorSeen = true }
                for (q, value) in values.enumerated() {
                    let range = defaultBounds[element.parameterOffset + q]
                    guess[element.parameterOffset + q] = min(max(value, range.lowerBound), range.upperBound)
                }
            }
        }
        return guess
    }

    private func isDescendant(_ node: Int, of ancestor: Int) -> Bool {
        var current = nodes[node].parent
        while current >= 0 {
            if current == ancestor { return true }
            current = nodes[current].parent
        }
        return false
    }

    private func isArcLike(_ node: Int) -> Bool {
        switch nodes[node].kind {
        case .parallel: return true
        case .series: return false
        case .element(let e):
            let element = elements[e]
            switch element.kind {
            case .K, .G: return true
            case .Zarc: return defaultBounds[element.parameterOffset + 2].upperBound > 0
            default: return false
            }
        }
    }

    private func guessElement(_ element: Element, arc: SpectrumShape.Arc?, shape: SpectrumShape, firstSeriesResistor: Bool) -> [Double] {
        let resistance = arc?.resistance ?? (firstSeriesResistor ? shape.highFrequencyResistance : 0.1 * shape.highFrequencyResistance)
        let peak = arc?.peakOmega ?? shape.highestOmega
        let inductance = shape.inductance > 0 ? shape.inductance : 1e-3 * shape.typicalModulus / shape.highestOmega
        let diffusionTime = 1 / shape.tailOmega
        switch element.kind {
        case .R:
            return [resistance]
        case .C:
            if let arc { return [1 / (arc.peakOmega * arc.resistance)] }
            return [1 / (shape.tailOmega * shape.tailReactance)]
        case .L:
            return [inductance]
        case .CPE:
            if let arc { return [1 / (arc.resistance * Double.pow(arc.peakOmega, 0.9)), 0.9] }
            let alpha = shape.tailSlope
            return [Double.sin(alpha * .pi / 2) / (shape.tailReactance * Double.pow(shape.tailOmega, alpha)), alpha]
        case .La:
            return [inductance, 0.95]
        case .W:
            return [shape.tailReactance * shape.tailOmega.squareRoot()]
        case .Wo, .Ws:
            return [max(0.5 * shape.totalResistance, shape.tailReactance), diffusionTime]
        case .G, .K:
            return [resistance, 1 / peak]
        case .Zarc:
            if arc == nil { return [0.1 * shape.highFrequencyResistance, 1 / shape.highestOmega, -0.9] }
            return [resistance, 1 / peak, 0.9]
        }
    }
}
