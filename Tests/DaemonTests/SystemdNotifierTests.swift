#if canImport(Glibc)
import Glibc
#endif
import Foundation
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
    }

    /// Next datagram, or nil after `timeout` seconds.
    func receive(timeout: Double = 5) -> String? {
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
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

@Suite struct SupervisorTests {
    /// Runs a supervisor for a while and returns the datagrams it sent.
    private func datagrams(healthy: Bool) async throws -> [String] {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "200000"])
        let supervisor = Supervisor(notifier: notifier, check: { PipelineHealth(healthy: healthy, summary: healthy ? "ok" : "store stalled") },
                                    logger: .init(label: "test"))
        // Read while it runs: a Unix datagram queue holds only about ten messages.
        let messages = LockedMessages()
        let reader = Thread {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                guard let m = socket.receive(timeout: 0.2) else { continue }
                messages.append(m)
                if m.hasPrefix("STOPPING=1") { break }
            }
        }
        reader.start()
        let task = Task { try await supervisor.run() }
        try await Task.sleep(for: .milliseconds(1500))
        task.cancel()
        _ = try? await task.value
        while !reader.isFinished { try await Task.sleep(for: .milliseconds(20)) }
        return messages.all
    }

    @Test func watchdogIsFedOnlyWhileThePipelineIsHealthy() async throws {
        let healthy = try await datagrams(healthy: true)
        #expect(healthy.first == "READY=1\nSTATUS=ok")
        #expect(healthy.filter { $0 == "WATCHDOG=1" }.count >= 2, "every 100 ms for WATCHDOG_USEC=200000: \(healthy)")
        #expect(healthy.last?.hasPrefix("STOPPING=1") == true, "\(healthy)")

        let stalled = try await datagrams(healthy: false)
        #expect(!stalled.contains("WATCHDOG=1"), "\(stalled)")
        #expect(stalled.contains("STATUS=store stalled"))
    }
}
