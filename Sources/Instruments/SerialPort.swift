#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSerialPort
import BenchCore

/// Line settings of a serial port.
public struct SerialSettings: Equatable, Sendable {
    public enum Parity: String, Sendable, CaseIterable { case none, even, odd }
    public enum FlowControl: String, Sendable, CaseIterable { case none, rtscts, xonxoff }
    public var baudRate: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    public var flowControl: FlowControl

    public init(baudRate: Int = 115_200, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1, flowControl: FlowControl = .none) {
        self.baudRate = baudRate
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
        self.flowControl = flowControl
    }

    static let baudRates: [Int: speed_t] = [
        1200: speed_t(B1200), 2400: speed_t(B2400), 4800: speed_t(B4800), 9600: speed_t(B9600),
        19200: speed_t(B19200), 38400: speed_t(B38400), 57600: speed_t(B57600), 115200: speed_t(B115200),
        230400: speed_t(B230400), 460800: speed_t(B460800), 921600: speed_t(B921600),
    ]
}

/// Where a serial port is: a device path, or a USB adapter's identity so that
/// an adapter that re-enumerates under another name is found again.
public enum SerialAddress: Equatable, Sendable, CustomStringConvertible {
    case path(String)
    case usb(vendor: UInt16, product: UInt16, serial: String?)

    public var description: String {
        switch self {
        case .path(let p): return p
        case .usb(let v, let p, let s):
            let id = String(format4(v)) + ":" + String(format4(p))
            return s.map { "usb \(id) serial \($0)" } ?? "usb \(id)"
        }
    }

    /// The device path now: looked up through libserialport's port list for a USB identity.
    func resolve() throws(TransportError) -> String {
        switch self {
        case .path(let p): return p
        case .usb(let vendor, let product, let serial):
            var list: UnsafeMutablePointer<OpaquePointer?>?
            guard sp_list_ports(&list) == SP_OK, let ports = list else {
                throw .deviceNotFound("\(self): cannot list serial ports")
            }
            defer { sp_free_port_list(ports) }
            var i = 0
            while let port = ports[i] {
                i += 1
                guard sp_get_port_transport(port) == SP_TRANSPORT_USB else { continue }
                var vid: Int32 = 0, pid: Int32 = 0
                guard sp_get_port_usb_vid_pid(port, &vid, &pid) == SP_OK,
                      vid == Int32(vendor), pid == Int32(product) else { continue }
                if let serial {
                    guard let s = sp_get_port_usb_serial(port), String(cString: s) == serial else { continue }
                }
                if let name = sp_get_port_name(port) { return String(cString: name) }
            }
            throw .deviceNotFound("no serial port matches \(self)")
        }
    }
}

private func format4(_ v: UInt16) -> String {
    let hex = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}

/// An open serial port speaking a line protocol. Not thread-safe: owned by one `PortThread`.
///
/// The port is configured with termios directly: libserialport 0.1.1 refuses
/// device nodes it finds no sysfs entry for (pseudo-terminals, some
/// converters), and one I/O path for every port means the path under test is
/// the path in production. libserialport finds USB adapters by identity.
final class SerialPort {
    private var fd: Int32
    private let path: String
    private var pending: [UInt8] = []

    init(path: String, settings: SerialSettings) throws(TransportError) {
        self.path = path
        fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .openFailed("\(path): \(String(cString: strerror(errno)))") }
        do { try configure(settings) } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func configure(_ settings: SerialSettings) throws(TransportError) {
        var tio = termios()
        guard tcgetattr(fd, &tio) == 0 else { throw .openFailed("\(path): not a terminal: \(String(cString: strerror(errno)))") }
        cfmakeraw(&tio)
        guard let speed = SerialSettings.baudRates[settings.baudRate] else {
            throw .openFailed("\(path): unsupported baud rate \(settings.baudRate)")
        }
        cfsetispeed(&tio, speed)
        cfsetospeed(&tio, speed)
        tio.c_cflag &= ~(tcflag_t(CSIZE | PARENB | PARODD | CSTOPB) | tcflag_t(CRTSCTS))
        tio.c_cflag |= tcflag_t(CLOCAL | CREAD)
        switch settings.dataBits {
        case 5: tio.c_cflag |= tcflag_t(CS5)
        case 6: tio.c_cflag |= tcflag_t(CS6)
        case 7: tio.c_cflag |= tcflag_t(CS7)
        default: tio.c_cflag |= tcflag_t(CS8)
        }
        switch settings.parity {
        case .none: break
        case .even: tio.c_cflag |= tcflag_t(PARENB)
        case .odd: tio.c_cflag |= tcflag_t(PARENB | PARODD)
        }
        if settings.stopBits == 2 { tio.c_cflag |= tcflag_t(CSTOPB) }
        switch settings.flowControl {
        case .none: break
        case .rtscts: tio.c_cflag |= tcflag_t(CRTSCTS)
        case .xonxoff: tio.c_iflag |= tcflag_t(IXON | IXOFF)
        }
        guard tcsetattr(fd, TCSANOW, &tio) == 0 else { throw .openFailed("\(path): cannot set line settings: \(String(cString: strerror(errno)))") }
        tcflush(fd, TCIOFLUSH)
    }

    /// Writes one line (LF appended).
    func writeLine(_ line: String) throws(TransportError) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        var sent = 0
        let deadline = BenchClock.monotonicSeconds() + 1
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR), BenchClock.monotonicSeconds() < deadline {
                _ = waitReadable(events: Int16(POLLOUT), milliseconds: 10)
                continue
            }
            throw .io("\(path): write failed: \(n < 0 ? String(cString: strerror(errno)) : "no progress")")
        }
    }

    /// Drops whatever arrived unasked (late replies of timed-out queries, noise).
    func flushInput() {
        pending.removeAll(keepingCapacity: true)
        tcflush(fd, TCIFLUSH)
    }

    /// Reads one line (CR LF or LF terminated), waiting at most `timeout` seconds.
    func readLine(timeout: Double) throws(TransportError) -> String {
        let deadline = BenchClock.monotonicSeconds() + timeout
        while true {
            if let lf = pending.firstIndex(of: 0x0A) {
                var line = pending[..<lf]
                if line.last == 0x0D { line = line.dropLast() }
                let text = String(decoding: line, as: UTF8.self)
                pending.removeSubrange(...lf)
                return text
            }
            let remaining = deadline - BenchClock.monotonicSeconds()
            guard remaining > 0 else {
                let partial = pending.isEmpty ? "no reply" : "incomplete reply of \(pending.count) bytes"
                throw .timeout("\(path): \(partial) within \(Int(timeout * 1000)) ms")
            }
            let ready = waitReadable(events: Int16(POLLIN), milliseconds: Int32(max(1, remaining * 1000)))
            if ready & Int16(POLLNVAL | POLLERR) != 0 { throw .io("\(path): device error") }
            guard ready & Int16(POLLIN | POLLHUP) != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 512)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                pending.append(contentsOf: chunk[0..<n])
                if pending.count > 65536 { pending.removeAll(); throw .garbled("\(path): over 64 KiB without a line end") }
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                throw .io("\(path): device gone (\(n == 0 ? "hang-up" : String(cString: strerror(errno))))")
            }
        }
    }

    private func waitReadable(events: Int16, milliseconds: Int32) -> Int16 {
        var p = pollfd(fd: fd, events: events, revents: 0)
        return poll(&p, 1, milliseconds) > 0 ? p.revents : 0
    }
}

