import TOMLConfig

/// How a multi-register value is laid out: `ABCD` high word first (Modbus
/// convention), `CDAB` low word first, `BADC`/`DCBA` the same with the two
/// bytes of each register swapped.
public enum WordOrder: String, Sendable, CaseIterable {
    case abcd = "ABCD", cdab = "CDAB", badc = "BADC", dcba = "DCBA"
    var lowWordFirst: Bool { self == .cdab || self == .dcba }
    var swapsBytes: Bool { self == .badc || self == .dcba }
}

public enum RegisterTable: String, Sendable { case input, holding }

/// One value in a Modbus register map.
public struct RegisterField: Equatable, Sendable {
    public enum ValueType: String, Sendable, CaseIterable {
        case u16, i16, u32, i32, f32, f64, ascii
        var registers: Int {
            switch self {
            case .u16, .i16, .ascii: return 1
            case .u32, .i32, .f32: return 2
            case .f64: return 4
            }
        }
    }
    /// Register address (0-based, as on the wire), relative to the block it belongs to.
    public var address: Int
    public var type: ValueType
    /// Registers the value occupies (more than one only for `ascii`).
    public var count: Int
    /// Engineering value = raw × scale + offset.
    public var scale: Double
    public var offset: Double
    public var wordOrder: WordOrder

    public init(address: Int, type: ValueType, count: Int? = nil, scale: Double = 1, offset: Double = 0, wordOrder: WordOrder = .abcd) {
        self.address = address
        self.type = type
        self.count = count ?? type.registers
        self.scale = scale
        self.offset = offset
        self.wordOrder = wordOrder
    }

    var end: Int { address + count }

    /// Registers in the order high word first, bytes as on the wire.
    private func canonical(_ words: ArraySlice<UInt16>) -> [UInt16] {
        var w = Array(words)
        if wordOrder.swapsBytes { w = w.map { $0.byteSwapped } }
        if wordOrder.lowWordFirst { w.reverse() }
        return w
    }

    private func wire(_ words: [UInt16]) -> [UInt16] {
        var w = words
        if wordOrder.lowWordFirst { w.reverse() }
        if wordOrder.swapsBytes { w = w.map { $0.byteSwapped } }
        return w
    }

    /// Raw integer content (unscaled) of an integer field.
    func rawBits(_ registers: [UInt16], base: Int) -> UInt64 {
        let start = base + address
        return canonical(registers[start..<start + count]).reduce(0) { ($0 << 16) | UInt64($1) }
    }

    /// The engineering value of this field, read from `registers`, where
    /// `registers[0]` holds register number `base`... shifted so that
    /// `registers[base + address]` is the field's first register.
    public func decode(_ registers: [UInt16], base: Int) -> Double {
        let bits = rawBits(registers, base: base)
        let raw: Double
        switch type {
        case .u16, .u32, .ascii: raw = Double(bits)
        case .i16: raw = Double(Int16(truncatingIfNeeded: bits))
        case .i32: raw = Double(Int32(truncatingIfNeeded: bits))
        case .f32: raw = Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        case .f64: raw = Double(bitPattern: bits)
        }
        return raw * scale + offset
    }

    /// Exact unsigned integer of a `u16`/`u32` field (sequence numbers, counters).
    public func decodeCounter(_ registers: [UInt16], base: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: rawBits(registers, base: base))
    }

    /// Text of an `ascii` field: two characters per register, high byte first, NUL padded.
    public func decodeText(_ registers: [UInt16], base: Int) -> String {
        let start = base + address
        let bytes = registers[start..<start + count].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        return String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// Registers to write for an engineering value (wire order).
    public func encode(_ value: Double) throws(RegisterError) -> [UInt16] {
        let raw = (value - offset) / scale
        guard raw.isFinite else { throw RegisterError("value \(value) is not finite") }
        let bits: UInt64
        switch type {
        case .u16, .u32:
            let limit = type == .u16 ? Double(UInt16.max) : Double(UInt32.max)
            guard raw >= 0, raw <= limit else { throw RegisterError("value \(value) does not fit \(type.rawValue)") }
            bits = UInt64(raw.rounded())
        case .i16, .i32:
            let limit = type == .i16 ? Double(Int16.max) : Double(Int32.max)
            guard abs(raw) <= limit else { throw RegisterError("value \(value) does not fit \(type.rawValue)") }
            bits = UInt64(bitPattern: Int64(raw.rounded()))
        case .f32: bits = UInt64(Float(raw).bitPattern)
        case .f64: bits = raw.bitPattern
        case .ascii: throw RegisterError("text fields are read-only")
        }
        let words = (0..<count).map { i in UInt16(truncatingIfNeeded: bits >> (16 * UInt64(count - 1 - i))) }
        return wire(words)
    }

    static func parse(_ section: ConfigTable, _ key: String, defaultOrder: WordOrder, addressLimit: Int) throws -> RegisterField {
        let entry = try section.table(key)
        try entry.rejectUnknownKeys(["address", "type", "registers", "scale", "offset", "word_order"])
        let typeName = try entry.string("type")
        guard let type = ValueType(rawValue: typeName) else {
            throw entry.error("type", "unknown type '\(typeName)' (expected \(ValueType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let address = try entry.int("address", in: 0...addressLimit)
        let count = type == .ascii ? try entry.int("registers", in: 1...64) : type.registers
        var order = defaultOrder
        if let name = try entry.optionalString("word_order") {
            guard let o = WordOrder(rawValue: name) else {
                throw entry.error("word_order", "unknown word order '\(name)' (expected ABCD, CDAB, BADC or DCBA)")
            }
            order = o
        }
        let scale = try entry.double("scale", in: -1e12...1e12, default: 1)
        guard scale != 0 else { throw entry.error("scale", "must not be 0") }
        return RegisterField(address: address, type: type, count: count, scale: scale,
                             offset: try entry.double("offset", in: -1e12...1e12, default: 0), wordOrder: order)
    }
}

public struct RegisterError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
