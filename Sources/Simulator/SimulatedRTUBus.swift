#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchCore
import CModbus
import Foundation

/// An RS-485 bus on a pseudo-terminal with one or more reference cyclers on
/// it, each answering its own slave address in Modbus RTU (libmodbus frames
/// and checks every message). A cycler can be made silent, as a slave that
/// lost power or its cable, while the others keep answering.
public final class SimulatedRTUBus: @unchecked Sendable {
    private let devices: [Int: Locked<CyclerDevice>]
    private let silent = Locked(Set<Int>())
    /// Fault injection: how many of the next replies go out with a wrong CRC.
    private let corrupted = Locked(0)
    private let stopping = Locked(false)
    private let done = NSCondition()
    private var finished = false
    private let terminal: PseudoTerminal
    private let link: String?

    /// `cyclers` maps slave addresses (1...247) to the cells of that cycler's channels;
    /// a slave with an entry in `memories` carries on from it instead.
    public init(cyclers: [Int: [VirtualCell]], timeScale: Double = 1, link: String? = nil, memories: [Int: CyclerMemory] = [:]) throws(SimulatorError) {
        devices = Dictionary(uniqueKeysWithValues: cyclers.map { unit, cells in
            (unit, Locked(memories[unit].map(CyclerDevice.init(memory:)) ?? CyclerDevice(cells: cells, timeScale: timeScale)))
        })
        terminal = try PseudoTerminal()
        self.link = link
        if let link { try terminal.link(at: link) }
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else {
            throw .system("socketpair: \(String(cString: strerror(errno)))")
        }
        let (wire, slaveSide) = (pair[0], pair[1])
        let thread = Thread { [self] in serve(wire: wire, slaveSide: slaveSide) }
        thread.name = "simulated rs-485 bus"
        thread.start()
    }

    /// Path a client opens (the stable link when given).
    public var path: String { link ?? terminal.slavePath }
    public var devicePath: String { terminal.slavePath }

    public func setSilent(unit: Int, _ isSilent: Bool) {
        silent.withLock { if isSilent { $0.insert(unit) } else { $0.remove(unit) } }
    }

    /// The next `count` replies go out with their CRC inverted, as line noise would leave them.
    public func corruptReplies(_ count: Int) { corrupted.withLock { $0 = count } }

    /// Each slave's channels, buffers and counters as they are now.
    public func memories() -> [Int: CyclerMemory] { devices.mapValues { $0.withLock { $0.memory() } } }

    public func powerCycle(unit: Int) { devices[unit]?.withLock { $0.powerCycle() } }

    public func stop() {
        stopping.withLock { $0 = true }
        done.lock()
        while !finished { done.wait() }
        done.unlock()
        if let link { unlink(link) }
        terminal.close()
    }

    /// Reads frames off the bus (a frame ends with a silence), hands each to
    /// libmodbus through a socket pair, and puts the reply back on the bus.
    private func serve(wire: Int32, slaveSide: Int32) {
        let context = modbus_new_rtu("/dev/null", 115_200, 69, 8, 1)
        var mappings: [Int: UnsafeMutablePointer<modbus_mapping_t>] = [:]
        for (unit, device) in devices {
            let count = device.withLock { Int32($0.registerCount) }
            mappings[unit] = modbus_mapping_new(0, 0, count, count)
        }
        defer {
            mappings.values.forEach { modbus_mapping_free($0) }
            if let context { modbus_free(context) }
            close(wire)
            close(slaveSide)
            done.lock()
            finished = true
            done.signal()
            done.unlock()
        }
        guard let context else { return }
        modbus_set_socket(context, slaveSide)
        var request = [UInt8](repeating: 0, count: Int(MODBUS_RTU_MAX_ADU_LENGTH))
        while !stopping.withLock({ $0 }) {
            let frame = readFrame(terminal.master)
            guard let unit = frame.first.map(Int.init), let device = devices[unit], let mapping = mappings[unit],
                  !silent.withLock({ $0.contains(unit) }) else { continue }
            _ = frame.withUnsafeBytes { write(wire, $0.baseAddress, $0.count) }
            modbus_set_slave(context, Int32(unit))
            let length = request.withUnsafeMutableBufferPointer { modbus_receive(context, $0.baseAddress) }
            guard length > 0 else { drain(slaveSide); continue }
            let received = Array(request.prefix(Int(length)))
            device.withLock { $0.serve(context, received, length, mapping) }
            var reply = readAvailable(wire)
            if !reply.isEmpty, corrupted.withLock({ n in defer { n = max(0, n - 1) }; return n > 0 }) {
                reply[reply.count - 1] ^= 0xFF
            }
            _ = reply.withUnsafeBytes { write(terminal.master, $0.baseAddress, $0.count) }
        }
    }

    /// Bytes up to a silence of 5 ms (longer than 3.5 characters at 9600 baud and up).
    private func readFrame(_ fd: Int32) -> [UInt8] {
        var frame: [UInt8] = []
        var timeout: Int32 = 50
        while frame.count < Int(MODBUS_RTU_MAX_ADU_LENGTH) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, timeout) > 0 else { break }
            var chunk = [UInt8](repeating: 0, count: 256)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            // No client on the slave side yet (EIO): wait a little.
            guard n > 0 else { usleep(10_000); break }
            frame.append(contentsOf: chunk[0..<n])
            timeout = 5
        }
        return frame
    }

    private func readAvailable(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 0) > 0 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    private func drain(_ fd: Int32) { _ = readAvailable(fd) }
}
