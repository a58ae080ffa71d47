/// One Modbus link (a TCP connection or an RS-485 port) with its own thread.
///
/// Several instruments (slaves) may share one bus; their requests are
/// serialised on the bus thread. A slave that stops answering costs each of
/// its requests one response timeout, and its driver backs off before trying
/// again, so the other slaves on the bus keep flowing.
public final class ModbusBus: Sendable {
    public let endpoint: ModbusEndpoint
    public let timing: ModbusTiming
    private let thread: PortThread
    private let box: ConnectionBox

    /// The connection lives on the bus thread; the box only lets it be handed there.
    private final class ConnectionBox: @unchecked Sendable {
        let connection: ModbusConnection
        init(_ c: ModbusConnection) { connection = c }
    }

    public init(endpoint: ModbusEndpoint, timing: ModbusTiming = ModbusTiming()) {
        self.endpoint = endpoint
        self.timing = timing
        thread = PortThread(name: "modbus \(endpoint)")
        box = ConnectionBox(ModbusConnection(endpoint: endpoint, timing: timing))
    }

    /// Runs blocking requests on the bus thread.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ModbusConnection) throws -> T) async throws -> T {
        let box = self.box
        return try await thread.run { try body(box.connection) }
    }

    public func readRegisters(_ table: RegisterTable, unit: Int, address: Int, count: Int, maxRead: Int = 125) async throws -> [UInt16] {
        try await perform { try $0.read(table, unit: unit, address: address, count: count, maxRead: maxRead) }
    }

    public func writeRegisters(unit: Int, address: Int, values: [UInt16]) async throws {
        try await perform { try $0.write(unit: unit, address: address, values: values) }
    }

    /// Drops the connection; the next request reconnects.
    public func disconnect() async {
        _ = try? await perform { $0.close() }
    }

    /// Closes the link and ends the bus thread.
    public func shutdown() async {
        await disconnect()
        thread.stop()
    }
}
