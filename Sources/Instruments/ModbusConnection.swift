#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CModbus

/// Where a Modbus device is reached.
public enum ModbusEndpoint: Equatable, Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case rtu(SerialAddress, SerialSettings)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp://\(host):\(port)"
        case .rtu(let address, _): return "rtu:\(address)"
        }
    }

    public static func == (a: ModbusEndpoint, b: ModbusEndpoint) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// Timing of a Modbus link.
public struct ModbusTiming: Equatable, Sendable {
    /// Time to wait for the first byte of a reply, s.
    public var responseTimeout: Double
    /// Longest silence inside a reply, s.
    public var byteTimeout: Double
    /// Attempts after an exception 06 (device busy) before giving up on a request.
    public var busyRetries: Int
    /// Pause before retrying a busy device, s.
    public var busyPause: Double

    public init(responseTimeout: Double = 0.5, byteTimeout: Double = 0.05, busyRetries: Int = 10, busyPause: Double = 0.02) {
        self.responseTimeout = responseTimeout
        self.byteTimeout = byteTimeout
        self.busyRetries = busyRetries
        self.busyPause = busyPause
    }
}

/// One libmodbus context. Not thread-safe: owned by one `PortThread`.
final class ModbusConnection {
    private var context: OpaquePointer?
    private let endpoint: ModbusEndpoint
    private let timing: ModbusTiming

    /// libmodbus error numbers (its `EMBX…` macros are expressions Swift does not import).
    static let errnoBase: Int32 = 112_345_678
    static let busy = errnoBase + 6
    static let badCRC = errnoBase + 12

    init(endpoint: ModbusEndpoint, timing: ModbusTiming) {
        self.endpoint = endpoint
        self.timing = timing
    }

    deinit { close() }

    var isOpen: Bool { context != nil }

    func open() throws(TransportError) {
        guard context == nil else { return }
        let ctx: OpaquePointer?
        switch endpoint {
        case .tcp(let host, let port):
            ctx = modbus_new_tcp(host, Int32(port))
        case .rtu(let address, let settings):
            let path = try address.resolve()
            let parity: CChar = switch settings.parity { case .none: 78; case .even: 69; case .odd: 79 } // N E O
            ctx = modbus_new_rtu(path, Int32(settings.baudRate), parity, Int32(settings.dataBits), Int32(settings.stopBits))
        }
        guard let ctx else { throw .openFailed("\(endpoint): \(Self.message(errno))") }
        modbus_set_response_timeout(ctx, UInt32(timing.responseTimeout), UInt32((timing.responseTimeout.truncatingRemainder(dividingBy: 1)) * 1e6))
        modbus_set_byte_timeout(ctx, UInt32(timing.byteTimeout), UInt32((timing.byteTimeout.truncatingRemainder(dividingBy: 1)) * 1e6))
        guard modbus_connect(ctx) == 0 else {
            let reason = Self.message(errno)
            modbus_free(ctx)
            throw .openFailed("\(endpoint): \(reason)")
        }
        context = ctx
    }

    func close() {
        guard let ctx = context else { return }
        modbus_close(ctx)
        modbus_free(ctx)
        context = nil
    }

    /// Reads `count` input (function 04) or holding (03) registers, split into requests of at most `maxRead`.
    func read(_ table: RegisterTable, unit: Int, address: Int, count: Int, maxRead: Int = 125) throws(TransportError) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = min(maxRead, count - done)
            try out.withUnsafeMutableBufferPointer { (buffer) throws(TransportError) in
                let destination = buffer.baseAddress.map { $0 + done }
                try perform(unit: unit, "read \(table.rawValue) \(address + done)+\(n)") { ctx in
                    table == .input
                        ? modbus_read_input_registers(ctx, Int32(address + done), Int32(n), destination)
                        : modbus_read_registers(ctx, Int32(address + done), Int32(n), destination)
                }
            }
            done += n
        }
        return out
    }

    /// Writes registers with function 16 (or 06 for a single register).
    func write(unit: Int, address: Int, values: [UInt16]) throws(TransportError) {
        try perform(unit: unit, "write \(address)+\(values.count)") { ctx in
            values.count == 1
                ? modbus_write_register(ctx, Int32(address), values[0])
                : values.withUnsafeBufferPointer { modbus_write_registers(ctx, Int32(address), Int32(values.count), $0.baseAddress) }
        }
    }

    /// Runs one request, retrying while the device answers busy; maps libmodbus errors.
    private func perform(unit: Int, _ what: String, _ request: (OpaquePointer) -> Int32) throws(TransportError) {
        try open()
        guard let ctx = context else { throw .closed }
        modbus_set_slave(ctx, Int32(unit))
        var attempt = 0
        while true {
            if request(ctx) >= 0 { return }
            let code = errno
            if code == Self.busy && attempt < timing.busyRetries {
                attempt += 1
                usleep(UInt32(timing.busyPause * 1e6))
                continue
            }
            let place = "\(endpoint) unit \(unit) \(what)"
            if code > Self.errnoBase && code <= Self.errnoBase + 11 {
                throw .modbusException(code: Int(code - Self.errnoBase), "\(place): \(Self.message(code))")
            }
            if code >= Self.badCRC && code <= Self.errnoBase + 18 {
                modbus_flush(ctx)
                throw .garbled("\(place): \(Self.message(code))")
            }
            if code == ETIMEDOUT {
                modbus_flush(ctx)
                throw .timeout("\(place): no reply within \(Int(timing.responseTimeout * 1000)) ms")
            }
            close()
            throw .io("\(place): \(Self.message(code))")
        }
    }

    static func message(_ code: Int32) -> String { String(cString: modbus_strerror(code)) }
}
