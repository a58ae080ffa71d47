#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pseudo-terminal whose master side a simulated instrument holds; clients
/// open the slave side like a serial port. A stable symlink may point at it,
/// so that a recreated terminal appears again under the same path, as a
/// re-plugged USB adapter does.
final class PseudoTerminal {
    let master: Int32
    let slavePath: String
    /// `TIOCSPTLCK` and `TIOCGPTN` from <asm-generic/ioctls.h>.
    private static let unlockRequest: UInt = 0x4004_5431
    private static let numberRequest: UInt = 0x8004_5430

    init() throws(SimulatorError) {
        // posix_openpt/unlockpt/ptsname, spelled as the Linux ioctls they wrap
        // (Swift's Glibc module does not export them).
        let fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard fd >= 0, ioctl(fd, Self.unlockRequest, &unlock) == 0, ioctl(fd, Self.numberRequest, &number) == 0 else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { Glibc.close(fd) }
            throw .system("cannot create a pseudo-terminal: \(reason)")
        }
        master = fd
        slavePath = "/dev/pts/\(number)"
        // Raw mode on the slave side until a client sets its own: no echo, no line editing.
        let slave = open(slavePath, O_RDWR | O_NOCTTY)
        if slave >= 0 {
            var tio = termios()
            tcgetattr(slave, &tio)
            cfmakeraw(&tio)
            tcsetattr(slave, TCSANOW, &tio)
            Glibc.close(slave)
        }
    }

    /// Points `link` at this terminal, replacing an older link.
    func link(at path: String) throws(SimulatorError) {
        unlink(path)
        guard symlink(slavePath, path) == 0 else {
            throw .system("cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    func close() { Glibc.close(master) }
}

public enum SimulatorError: Error, Equatable, Sendable, CustomStringConvertible {
    case system(String)
    public var description: String {
        switch self { case .system(let m): return m }
    }
}
