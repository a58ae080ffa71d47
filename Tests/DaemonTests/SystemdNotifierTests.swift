#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Daemon

/// A real datagram socket standing where systemd's notification socket would.
final class NotifySocket: @unchecked Sendable {
    let path: String
    let fd: Int32

    init() throws {
        path = "/tmp/cellbench-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(rc == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Next datagram, or nil after the receive timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite struct SystemdNotifierTests {
    @Test func sendsReadyWatchdogAndStoppingDatagrams() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "4000000"])
        #expect(notifier.watchdogInterval == .seconds(4))
        notifier.ready(status: "3 channels")
        #expect(socket.receive() == "READY=1\nSTATUS=3 channels")
        notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        notifier.stopping(status: "bye")
        #expect(socket.receive() == "STOPPING=1\nSTATUS=bye")
    }

    @Test func disabledWithoutNotifySocketAndWatchdogForOtherPid() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"])
        #expect(!notifier.isEnabled)
        #expect(notifier.watchdogInterval == nil)
        #expect(!notifier.send("READY=1"))
    }
}
