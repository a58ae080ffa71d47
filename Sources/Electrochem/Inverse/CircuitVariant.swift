/// One of the 24 circuits of the Li-ion family, chosen by switches (Buteau 2021, §3: the switches
/// are extra input channels of the network, a copy of the circuit's identity at every point):
///
/// - inductance: ideal inductor (La1 exponent exactly 1) or inductive CPE;
/// - inductive loop (Zarc1): present or removed;
/// - electrochemical arcs: 1, 2 or 3 (Zarc2, then Zarc3, then Zarc4);
/// - diffusion: semi-infinite Warburg (CPE1 exponent exactly 0.5) or CPE.
///
/// The network always predicts the 17 entries of θ; a variant fixes the exponents it pins and
/// removes the elements it lacks, in the circuit, its derivatives, the penalties and the polish.
public struct CircuitVariant: Sendable, Hashable, Codable, CustomStringConvertible {
    public var inductor: Bool
    public var loop: Bool
    public var arcs: Int
    public var warburg: Bool

    public init(inductor: Bool, loop: Bool, arcs: Int, warburg: Bool) {
        precondition((1...3).contains(arcs), "one to three arcs")
        self.inductor = inductor
        self.loop = loop
        self.arcs = arcs
        self.warburg = warburg
    }

    /// Every element with its free exponents: the `li-ion` circuit itself.
    public static let full = CircuitVariant(inductor: false, loop: true, arcs: 3, warburg: false)

    /// All 24 variants, fewest free parameters first.
    public static let all: [CircuitVariant] = {
        var variants: [CircuitVariant] = []
        for inductor in [true, false] {
            for loop in [false, true] {
                for arcs in 1...3 {
                    for warburg in [true, false] { variants.append(CircuitVariant(inductor: inductor, loop: loop, arcs: arcs, warburg: warburg)) }
                }
            }
        }
        return variants.sorted { $0.freeParameterCount < $1.freeParameterCount }
    }()

    /// Names of the switch channels, in input order (recorded in the model file).
    public static let switchNames = ["inductor", "loop", "arc2", "arc3", "warburg"]
    static let switchCount = switchNames.count

    /// The switch channels appended to every point's input: 1 = on.
    var switches: [Double] {
        [inductor, loop, arcs >= 2, arcs >= 3, warburg].map { $0 ? 1 : 0 }
    }

    /// Offsets in θ of the ZARCs a variant can remove: the inductive loop, the second and the third arc.
    static let removableZarcOffsets = [5, LiIonFamily.arcOffsets[1], LiIonFamily.arcOffsets[2]]

    /// Whether the ZARC whose `r` sits at `offset` in θ is part of the circuit.
    @inline(__always)
    func hasZarc(at offset: Int) -> Bool {
        switch offset {
        case 5: loop
        case 14: arcs >= 3
        case 11: arcs >= 2
        default: true
        }
    }

    /// θ entries the variant fixes: pinned exponents and the entries of removed elements.
    var fixedEntries: [Int] {
        var entries: [Int] = []
        if warburg { entries.append(2) }
        if inductor { entries.append(4) }
        for offset in Self.removableZarcOffsets where !hasZarc(at: offset) { entries += [offset, offset + 1, offset + 2] }
        return entries
    }

    public var freeParameterCount: Int { LiIonFamily.parameterCount - fixedEntries.count }

    /// Offsets of the present electrochemical arcs' `r` in θ, in frequency order.
    var arcOffsets: ArraySlice<Int> { LiIonFamily.arcOffsets.prefix(arcs) }

    /// Sets the pinned exponents in θ: `ϕ = 0` gives exactly 0.5 for the diffusion CPE and exactly
    /// −1 for the inductive CPE.
    func constrain(_ theta: inout [Double]) {
        if warburg { theta[2] = 0 }
        if inductor { theta[4] = 0 }
    }

    /// What the Levenberg–Marquardt polish holds fixed, by `li-ion` parameter name: the pinned
    /// exponents, and for removed elements `R = 0` with their other values as given.
    public func fixedParameters(_ parameters: [Double]) -> [String: Double] {
        let names = InverseModel.circuit.parameterNames
        var fixed: [String: Double] = [:]
        if warburg { fixed["CPE1_1"] = 0.5 }
        if inductor { fixed["La1_1"] = 1 }
        // Circuit parameter k ↔ θ entry k (both have 17 entries in the same element order).
        for offset in Self.removableZarcOffsets where !hasZarc(at: offset) {
            fixed[names[offset]] = 0
            for k in (offset + 1)...(offset + 2) { fixed[names[k]] = parameters[k] }
        }
        return fixed
    }

    /// `inductor|cpe-inductance,loop|no-loop,arcs=N,warburg|cpe-diffusion`.
    public var description: String {
        [inductor ? "inductor" : "cpe-inductance", loop ? "loop" : "no-loop", "arcs=\(arcs)",
         warburg ? "warburg" : "cpe-diffusion"].joined(separator: ",")
    }

    /// Reads a variant: comma-separated switches, in any order; switches not named keep the full
    /// variant's value (so `arcs=2` alone is the full circuit with two arcs).
    public init(parsing text: String) throws(VariantParseError) {
        var variant = CircuitVariant.full
        for raw in text.split(separator: ",") {
            let word = raw.trimmingWhitespace().lowercased()
            switch word {
            case "inductor": variant.inductor = true
            case "cpe-inductance": variant.inductor = false
            case "loop": variant.loop = true
            case "no-loop": variant.loop = false
            case "warburg": variant.warburg = true
            case "cpe-diffusion": variant.warburg = false
            case "arcs=1", "arcs=2", "arcs=3": variant.arcs = Int(word.dropFirst(5)) ?? 3
            default:
                throw VariantParseError(reason: "unknown switch '\(word)' in '\(text)'; use inductor|cpe-inductance, "
                                        + "loop|no-loop, arcs=1|2|3, warburg|cpe-diffusion, or auto")
            }
        }
        self = variant
    }
}

/// A variant string that could not be read.
public struct VariantParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// Which variant a fit uses: a given one, or the simplest the network fits properly.
public enum VariantChoice: Sendable, Hashable, Codable, CustomStringConvertible {
    case fixed(CircuitVariant)
    /// Run the network on all 24 variants; take the one with the fewest free parameters whose ρ is
    /// within the proper-fit limit (lowest ρ among equals), else the lowest ρ overall.
    case auto

    public init(parsing text: String) throws(VariantParseError) {
        self = text.trimmingWhitespace().lowercased() == "auto" ? .auto : .fixed(try CircuitVariant(parsing: text))
    }

    public var description: String {
        switch self {
        case .fixed(let variant): variant.description
        case .auto: "auto"
        }
    }
}
