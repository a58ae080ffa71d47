import BenchCore
import CModbus

/// The reference multi-channel cycler (`cycler-modbus.md`): channels sourcing
/// into virtual cells, each with its protection, watchdog and a 4096-record
/// buffer that keeps records until the client acknowledges them.
///
/// Time advances lazily: each request first brings every channel up to the
/// present, taking the records that fell due meanwhile, which is exactly
/// what a running instrument would have done while nobody was asking.
struct CyclerDevice: Sendable {
    static let bufferDepth = 4096
    static let windowRecords = 6
    static let model = "CellBench Simulated Cycler"

    struct Record: Sendable, Codable {
        var sequence: UInt32
        var time, voltage, current, temperature, charge: Double
    }

    struct Channel: Sendable, Codable {
        var source: SourceChannel
        var idle = true
        var paused = false
        /// Mode taken by the last apply (1 rest, 2 CC, 3 CV, 4 CC-CV).
        var mode: UInt16 = 1
        var setpointCounter: UInt16 = 0
        /// Holding registers 0..21 as last written (the command register reads 0).
        var holding = [UInt16](repeating: 0, count: 22)
        var nextRecord = 0.0
        var records: [Record] = []
        var newest: UInt32 = 0
        var dropped: UInt32 = 0

        init(cell: VirtualCell) {
            source = SourceChannel(cell: cell)
            put(&holding, 8, f32: 1)
            put(&holding, 10, f32: Float(source.voltageHigh))
            put(&holding, 12, f32: Float(source.voltageLow))
            put(&holding, 14, f32: Float(source.currentMaximum))
            put(&holding, 16, f32: Float(source.temperatureMaximum))
        }

        var recordInterval: Double { Double(f32(holding, 8)) }

        var state: UInt16 {
            if source.trip != .none { return 5 }
            if idle { return 0 }
            if paused { return 4 }
            switch mode {
            case 1: return 1
            case 3: return 3
            case 4: return source.inVoltagePhase ? 3 : 2
            default: return 2
            }
        }

        mutating func advance(to now: Double) {
            while source.time < now - 1e-12 {
                if idle {
                    source.advance(to: now)
                    nextRecord = now + recordInterval
                    return
                }
                let target = min(now, nextRecord)
                source.advance(to: target)
                if source.time >= nextRecord - 1e-12 {
                    takeRecord()
                    nextRecord += recordInterval
                }
            }
        }

        private mutating func takeRecord() {
            newest &+= 1
            if records.count == CyclerDevice.bufferDepth {
                records.removeFirst()
                dropped &+= 1
            }
            let cell = source.cell
            records.append(Record(sequence: newest, time: source.time, voltage: cell.terminalVoltage, current: cell.current,
                                  temperature: cell.temperatureC, charge: cell.chargeAh))
        }

        mutating func acknowledge(_ sequence: UInt32) {
            let upTo = min(sequence, newest)
            if let keep = records.firstIndex(where: { $0.sequence > upTo }) {
                records.removeFirst(keep)
            } else {
                records.removeAll()
            }
        }

        /// Input registers 0..127 of the channel.
        func inputRegisters() -> [UInt16] {
            var r = [UInt16](repeating: 0, count: 128)
            let cell = source.cell
            r[0] = state
            r[1] = UInt16(source.trip.rawValue)
            r[2] = setpointCounter
            put(&r, 4, f32: Float(cell.terminalVoltage))
            put(&r, 6, f32: Float(cell.current))
            put(&r, 8, f32: Float(cell.temperatureC))
            put(&r, 10, f64: cell.chargeAh)
            put(&r, 14, f64: source.time)
            put(&r, 18, u32: newest)
            put(&r, 20, u32: records.first?.sequence ?? 0)
            put(&r, 22, u32: dropped)
            let window = records.prefix(CyclerDevice.windowRecords)
            r[24] = UInt16(window.count)
            for (k, record) in window.enumerated() {
                let base = 32 + 16 * k
                put(&r, base, u32: record.sequence)
                put(&r, base + 2, f64: record.time)
                put(&r, base + 6, f32: Float(record.voltage))
                put(&r, base + 8, f32: Float(record.current))
                put(&r, base + 10, f32: Float(record.temperature))
                put(&r, base + 12, f64: record.charge)
            }
            return r
        }

        /// Checks a write to holding registers `offset...` and applies it; returns a Modbus exception code on refusal.
        mutating func write(offset: Int, values: [UInt16]) -> UInt8? {
            var image = holding
            for (k, v) in values.enumerated() { image[offset + k] = v }
            let touched = offset..<offset + values.count
            let command = image[0]
            if touched.contains(0), !(1...5).contains(command) { return 3 }
            if touched.contains(1), !(1...4).contains(image[1]) { return 3 }
            for field in stride(from: 2, through: 16, by: 2) where touched.overlaps(field..<field + 2) && !f32(image, field).isFinite {
                return 3
            }
            if touched.overlaps(8..<10), !(0.01...3600).contains(f32(image, 8)) { return 3 }
            if touched.overlaps(10..<18), f32(image, 10) <= f32(image, 12) || f32(image, 14) <= 0 { return 3 }
            if touched.contains(0), command == 1, source.trip != .none { return 3 }
            image[0] = 0
            holding = image
            source.touch()
            source.voltageHigh = Double(f32(image, 10))
            source.voltageLow = Double(f32(image, 12))
            source.currentMaximum = Double(f32(image, 14))
            source.temperatureMaximum = Double(f32(image, 16))
            source.watchdog = Double(image[18])
            if touched.overlaps(20..<22) { acknowledge(u32(image, 20)) }
            if touched.contains(0) { execute(command) }
            return nil
        }

        private mutating func execute(_ command: UInt16) {
            setpointCounter &+= 1
            switch command {
            case 1:
                mode = holding[1]
                source.current = Double(f32(holding, 2))
                source.voltage = Double(f32(holding, 4))
                source.currentLimit = Double(abs(f32(holding, 6)))
                source.inVoltagePhase = false
                source.mode = Self.sourceMode(mode)
                if idle { nextRecord = source.time + recordInterval }
                idle = false
                paused = false
            case 2:
                idle = true
                paused = false
                source.mode = .off
            case 3:
                guard !idle else { return }
                paused = true
                source.mode = .off
            case 4:
                guard paused else { return }
                paused = false
                source.mode = Self.sourceMode(mode)
            default:
                source.clearTrip()
                idle = true
                paused = false
            }
        }

        static func sourceMode(_ mode: UInt16) -> SourceChannel.Mode {
            switch mode {
            case 2: return .constantCurrent
            case 3: return .constantVoltage
            case 4: return .constantCurrentConstantVoltage
            default: return .rest
            }
        }
    }

    var channels: [Channel]
    let timeScale: Double
    var started = BenchClock.monotonicNs()
    /// Fault injection: every n-th request is answered with exception 06 (busy); 0 = never.
    var busyEvery = 0
    private var requests = 0

    init(cells: [VirtualCell], timeScale: Double) {
        channels = cells.map(Channel.init(cell:))
        self.timeScale = timeScale
    }

    /// The instrument as it was when `memory` was taken; its clock has kept running since.
    init(memory: CyclerMemory) {
        channels = memory.channels
        timeScale = memory.timeScale
        started = BenchClock.monotonicNs() - Int64((Double(BenchClock.wallNs()) / 1e9 - memory.clockZeroUnix) * 1e9)
    }

    /// Channels, buffers and counters, with the wall-clock time at which the instrument's clock read zero.
    func memory() -> CyclerMemory {
        let running = Double(BenchClock.monotonicNs() - started) / 1e9
        return CyclerMemory(channels: channels, timeScale: timeScale, clockZeroUnix: Double(BenchClock.wallNs()) / 1e9 - running)
    }

    var registerCount: Int { 1000 + 200 * channels.count }

    mutating func advance() {
        let now = Double(BenchClock.monotonicNs() - started) / 1e9 * timeScale
        for c in channels.indices { channels[c].advance(to: now) }
    }

    /// Power cycle: buffers, counters and settings lost; the cells keep their charge.
    mutating func powerCycle() {
        channels = channels.map { Channel(cell: $0.source.cell) }
        started = BenchClock.monotonicNs()
    }

    /// Device block, registers 0..19.
    func deviceRegisters() -> [UInt16] {
        var r = [UInt16](repeating: 0, count: 20)
        r[0] = 1
        r[1] = UInt16(channels.count)
        for (k, byte) in Self.model.utf8.prefix(32).enumerated() {
            r[2 + k / 2] |= k % 2 == 0 ? UInt16(byte) << 8 : UInt16(byte)
        }
        put(&r, 18, u32: 20261121)
        return r
    }

    /// Which channel and offset a register number falls in, or nil outside every channel block.
    func locate(_ address: Int) -> (channel: Int, offset: Int)? {
        guard address >= 1000 else { return nil }
        let channel = (address - 1000) / 200
        guard channel < channels.count else { return nil }
        return (channel, (address - 1000) % 200)
    }

    /// Answers one request received by `context` into `mapping` (libmodbus frames the reply).
    mutating func serve(_ context: OpaquePointer, _ request: [UInt8], _ length: Int32, _ mapping: UnsafeMutablePointer<modbus_mapping_t>) {
        requests += 1
        let h = Int(modbus_get_header_length(context))
        guard request.count > h + 4 else { return }
        func word(_ i: Int) -> Int { Int(request[i]) << 8 | Int(request[i + 1]) }
        func reply(exception code: UInt8) { _ = request.withUnsafeBufferPointer { modbus_reply_exception(context, $0.baseAddress, UInt32(code)) } }
        func reply() { _ = request.withUnsafeBufferPointer { modbus_reply(context, $0.baseAddress, length, mapping) } }
        if busyEvery > 0 && requests % busyEvery == 0 { return reply(exception: 6) }
        advance()
        let function = request[h]
        let address = word(h + 1)
        switch function {
        case 0x03, 0x04:
            let count = word(h + 3)
            guard (1...125).contains(count) else { return reply(exception: 3) }
            let input = function == 0x04
            var blocks: [Int: [UInt16]] = [:]
            for a in address..<address + count {
                let value: UInt16
                if input && a < 20 {
                    value = deviceRegisters()[a]
                } else if let (c, offset) = locate(a), offset < (input ? 128 : 22) {
                    if blocks[c] == nil { blocks[c] = input ? channels[c].inputRegisters() : channels[c].holding }
                    value = blocks[c]?[offset] ?? 0
                } else {
                    return reply(exception: 2)
                }
                if input { mapping.pointee.tab_input_registers[a] = value } else { mapping.pointee.tab_registers[a] = value }
            }
            reply()
        case 0x06, 0x10:
            let values: [UInt16]
            if function == 0x06 {
                values = [UInt16(word(h + 3))]
            } else {
                let count = word(h + 3)
                guard (1...123).contains(count), request.count >= h + 6 + 2 * count else { return reply(exception: 3) }
                values = (0..<count).map { UInt16(word(h + 6 + 2 * $0)) }
            }
            guard let (c, offset) = locate(address), offset + values.count <= 22 else { return reply(exception: 2) }
            if let refusal = channels[c].write(offset: offset, values: values) { return reply(exception: refusal) }
            reply()
        default:
            reply(exception: 1)
        }
    }
}

func put(_ r: inout [UInt16], _ i: Int, u32 v: UInt32) {
    r[i] = UInt16(v >> 16)
    r[i + 1] = UInt16(v & 0xFFFF)
}
func put(_ r: inout [UInt16], _ i: Int, f32 v: Float) { put(&r, i, u32: v.bitPattern) }
func put(_ r: inout [UInt16], _ i: Int, f64 v: Double) {
    let bits = v.bitPattern
    for k in 0..<4 { r[i + k] = UInt16(truncatingIfNeeded: bits >> (48 - 16 * UInt64(k))) }
}
func u32(_ r: [UInt16], _ i: Int) -> UInt32 { UInt32(r[i]) << 16 | UInt32(r[i + 1]) }
func f32(_ r: [UInt16], _ i: Int) -> Float { Float(bitPattern: u32(r, i)) }
