#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchCore
import CModbus
import Foundation

/// The reference cycler served over Modbus TCP on loopback, built on libmodbus.
/// Several clients may be connected at once (the daemon and `mbpoll`, say).
public final class SimulatedCycler: @unchecked Sendable {
    private let device: Locked<CyclerDevice>
    private let control = Locked(Control())
    private let done = NSCondition()
    private var finished = false
    public let port: Int

    struct Control {
        var stopping = false
        /// Until this monotonic time the server is unreachable (cable pulled), s.
        var unreachableUntil = 0.0
    }

    /// Listens on 127.0.0.1:`port` (0 picks a free port; see `port`). With a `memory`, the
    /// cycler carries on from it instead of powering up with `cells`.
    public init(cells: [VirtualCell], timeScale: Double = 1, port: Int = 0, memory: CyclerMemory? = nil) throws(SimulatorError) {
        device = Locked(memory.map(CyclerDevice.init(memory:)) ?? CyclerDevice(cells: cells, timeScale: timeScale))
        let listener = try Self.listen(port: port)
        self.port = listener.port
        let thread = Thread { [self] in serve(listener.fd) }
        thread.name = "simulated cycler tcp"
        thread.start()
    }

    /// Cuts the network for `seconds`: connections are dropped and refused, while
    /// the cycler keeps recording into its buffer.
    public func disconnect(for seconds: Double) {
        control.withLock { $0.unreachableUntil = Double(BenchClock.monotonicNs()) / 1e9 + seconds }
    }

    /// Channels, buffers and counters as they are now.
    public func memory() -> CyclerMemory { device.withLock { $0.memory() } }

    /// Power cycle: record buffers and sequence numbers start again.
    public func powerCycle() { device.withLock { $0.powerCycle() } }

    /// The current flowing into the cell of channel `index` now, A, by the instrument's own
    /// state (0 once the channel is stopped): what a test checks a stop command against.
    public func cellCurrent(channel index: Int) -> Double {
        device.withLock { device in
            device.advance()
            return device.channels.indices.contains(index) ? device.channels[index].source.cell.current : .nan
        }
    }

    /// Answers every n-th request with exception 06 (busy); 0 = never.
    public func answerBusy(every n: Int) { device.withLock { $0.busyEvery = n } }

    public func stop() {
        control.withLock { $0.stopping = true }
        done.lock()
        while !finished { done.wait() }
        done.unlock()
    }

    private static func listen(port: Int) throws(SimulatorError) -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .system("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                bind(fd, a, length) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, a, &length) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .system("cannot listen on 127.0.0.1:\(port): \(reason)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private func serve(_ listener: Int32) {
        let context = modbus_new_tcp("127.0.0.1", Int32(port))
        let registers = device.withLock { Int32($0.registerCount) }
        let mapping = modbus_mapping_new(0, 0, registers, registers)
        var clients: [Int32] = []
        var request = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))
        defer {
            clients.forEach { close($0) }
            close(listener)
            if let mapping { modbus_mapping_free(mapping) }
            if let context { modbus_free(context) }
            done.lock()
            finished = true
            done.signal()
            done.unlock()
        }
        guard let context, let mapping else { return }
        while true {
            let control = control.withLock { $0 }
            if control.stopping { return }
            if Double(BenchClock.monotonicNs()) / 1e9 < control.unreachableUntil {
                clients.forEach { close($0) }
                clients.removeAll()
                // Refuse new connections too, as an unplugged cable would.
                if let fd = acceptPending(listener) { close(fd) }
                usleep(20_000)
                continue
            }
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)] + clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            if fds[0].revents != 0, let fd = acceptPending(listener) { clients.append(fd) }
            for entry in fds.dropFirst() where entry.revents != 0 {
                modbus_set_socket(context, entry.fd)
                let length = request.withUnsafeMutableBufferPointer { modbus_receive(context, $0.baseAddress) }
                if length > 0 {
                    let received = Array(request.prefix(Int(length)))
                    device.withLock { $0.serve(context, received, length, mapping) }
                } else if length < 0 {
                    close(entry.fd)
                    clients.removeAll { $0 == entry.fd }
                }
            }
        }
    }

    private func acceptPending(_ listener: Int32) -> Int32? {
        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return nil }
        let fd = accept(listener, nil, nil)
        return fd >= 0 ? fd : nil
    }
}



