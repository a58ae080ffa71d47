#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Faults a simulated line instrument can be told to commit, for tests of the client.
public struct LineFaults: Sendable, Equatable {
    /// Queries left unanswered, from the next one on.
    public var dropReplies = 0
    /// Replies cut short (no line end; the rest never comes).
    public var truncateReplies = 0
    /// Replies preceded by garbage bytes.
    public var garbageBeforeReplies = 0
    public init() {}
}

/// Serves a line protocol on a pseudo-terminal from its own thread: each
/// received line goes to `handle`, whose reply (if any) is written back.
final class LineServer: @unchecked Sendable {
    private let handle: @Sendable (String) -> String?
    private let faults = Mutex(LineFaults())
    private let state = Mutex<(terminal: PseudoTerminal?, stopping: Bool, link: String?)>((nil, false, nil))
    private let finished = NSCondition()
    private var running = false

    init(link: String?, handle: @escaping @Sendable (String) -> String?) throws(SimulatorError) {
        self.handle = handle
        let terminal = try PseudoTerminal()
        if let link { try terminal.link(at: link) }
        state.withLock { $0 = (terminal, false, link) }
        let thread = Thread { [self] in serve() }
        thread.name = "simulated line instrument"
        running = true
        thread.start()
    }

    /// Path clients open: the stable link when there is one, else the slave device.
    var path: String { state.withLock { $0.link ?? $0.terminal?.slavePath ?? "" } }
    var devicePath: String { state.withLock { $0.terminal?.slavePath ?? "" } }

    func inject(_ change: @Sendable (inout LineFaults) -> Void) { faults.withLock { change(&$0) } }

    /// Unplugs the device: the terminal disappears (clients see a hang-up and
    /// the link vanishes) until `replug` creates a new one under the same link.
    func unplug() {
        state.withLock { s in
            if let link = s.link { unlink(link) }
            s.terminal?.close()
            s.terminal = nil
        }
    }

    func replug() throws(SimulatorError) {
        let terminal = try PseudoTerminal()
        let link = state.withLock { $0.link }
        if let link { try terminal.link(at: link) }
        state.withLock { $0.terminal = terminal }
    }

    func stop() {
        state.withLock { $0.stopping = true }
        finished.lock()
        while running { finished.wait() }
        finished.unlock()
        unplug()
    }

    private func serve() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !state.withLock({ $0.stopping }) {
            guard let fd = state.withLock({ $0.terminal?.master }) else {
                usleep(20_000)
                continue
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            // EIO while no client holds the slave side open: wait for one.
            guard n > 0 else { usleep(10_000); continue }
            pending.append(contentsOf: buffer[0..<n])
            while let lf = pending.firstIndex(of: 0x0A) {
                var line = pending[..<lf]
                if line.last == 0x0D { line = line.dropLast() }
                let text = String(decoding: line, as: UTF8.self)
                pending.removeSubrange(...lf)
                guard let reply = handle(text) else { continue }
                write(reply, to: fd)
            }
        }
        finished.lock()
        running = false
        finished.signal()
        finished.unlock()
    }

    private func write(_ reply: String, to fd: Int32) {
        var bytes = Array(reply.utf8) + [0x0A]
        let fault = faults.withLock { f -> String in
            if f.dropReplies > 0 { f.dropReplies -= 1; return "drop" }
            if f.truncateReplies > 0 { f.truncateReplies -= 1; return "truncate" }
            if f.garbageBeforeReplies > 0 { f.garbageBeforeReplies -= 1; return "garbage" }
            return ""
        }
        switch fault {
        case "drop": return
        case "truncate": bytes = Array(bytes.prefix(max(1, bytes.count / 2)))
        case "garbage": bytes = [0xFF, 0x00, 0x13, 0x7F, 0x21, 0x2C] + bytes
        default: break
        }
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}

/// What every simulated serial-line instrument offers: where it is, fault
/// injection, and unplugging the device node.
public class SimulatedSerialInstrument: @unchecked Sendable {
    let server: LineServer

    init(server: LineServer) { self.server = server }

    /// Path clients open: the stable link when there is one, else the pseudo-terminal.
    public var path: String { server.path }
    public var devicePath: String { server.devicePath }
    public func inject(_ change: @Sendable (inout LineFaults) -> Void) { server.inject(change) }
    /// The device node disappears, as a USB adapter pulled out.
    public func unplug() { server.unplug() }
    /// The device node comes back (under the same link).
    public func replug() throws(SimulatorError) { try server.replug() }
    public func stop() { server.stop() }
}

/// Splits an SCPI line into an upper-case header and its argument text.
func scpiParts(_ line: String) -> (header: String, argument: String) {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    guard let space = trimmed.firstIndex(of: " ") else { return (trimmed.uppercased(), "") }
    return (String(trimmed[..<space]).uppercased(), trimmed[space...].trimmingCharacters(in: .whitespaces))
}

/// NR3 number: `+1.234500E+03`.
func nr3(_ value: Double) -> String { String(format: "%+.6E", value) }

/// Device state shared between a server thread and the controlling API.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let condition = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(&value)
    }
}
