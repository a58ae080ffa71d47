/// A line-protocol link over a serial port, with its own thread.
///
/// A query flushes stale input, sends, and waits for one reply line; a
/// timeout or a reply that does not match the expected pattern is retried
/// (the protocol says an unanswered query leaves the link suspect).
public final class SerialLine: Sendable {
    public let address: SerialAddress
    public let settings: SerialSettings
    private let thread: PortThread
    private let box: PortBox

    private final class PortBox: @unchecked Sendable {
        // Touched on the port thread only.
        var port: SerialPort?
    }

    public init(address: SerialAddress, settings: SerialSettings = SerialSettings()) {
        self.address = address
        self.settings = settings
        thread = PortThread(name: "serial \(address)")
        box = PortBox()
    }

    private func withPort<T: Sendable>(_ body: @escaping @Sendable (SerialPort) throws -> T) async throws -> T {
        let box = self.box, address = self.address, settings = self.settings
        return try await thread.run {
            let port: SerialPort
            if let open = box.port {
                port = open
            } else {
                port = try SerialPort(path: try address.resolve(), settings: settings)
                box.port = port
            }
            do {
                return try body(port)
            } catch TransportError.io(let message) {
                port.close()
                box.port = nil
                throw TransportError.io(message)
            }
        }
    }

    /// Sends a command that has no reply.
    public func send(_ line: String) async throws {
        try await withPort { try $0.writeLine(line) }
    }

    /// Sends a query and returns the reply parsed with `reply`, retrying
    /// `retries` times after a timeout or an unparseable reply.
    public func query(_ line: String, reply: LineTemplate, timeout: Double, retries: Int) async throws -> [String: LineValue] {
        var lastError = TransportError.timeout("\(address): \(line)")
        for _ in 0...retries {
            do {
                let text = try await withPort { port in
                    port.flushInput()
                    try port.writeLine(line)
                    return try port.readLine(timeout: timeout)
                }
                if let values = reply.parse(text) { return values }
                lastError = .garbled("\(address): reply to '\(line)' was '\(Self.printable(text))', expected '\(reply)'")
            } catch let error as TransportError {
                if case .io = error { throw error }
                lastError = error
            }
        }
        throw lastError
    }

    /// Closes the port; the next call reopens it.
    public func disconnect() async {
        let box = self.box
        _ = try? await thread.run {
            box.port?.close()
            box.port = nil
        }
    }

    public func shutdown() async {
        await disconnect()
        thread.stop()
    }

    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" }.prefix(80))
    }
}
