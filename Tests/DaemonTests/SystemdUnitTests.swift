import Foundation
import Testing

/// The shipped unit file keeps its hardening: `systemd-analyze security` must
/// rate its exposure at 2.0 or lower. Runs where systemd-analyze exists.
@Suite struct SystemdUnitTests {
    static let unit = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("systemd/cellbenchd.service").path
    static let analyzer = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: analyzer != nil, "systemd-analyze is not installed"))
    func exposureIsAtMostTwo() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(Self.analyzer))
        p.arguments = ["security", "--offline=true", Self.unit]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let line = try #require(text.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(text)")
        let number = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        let exposure = try #require(number, "cannot read the exposure from: \(line)")
        #expect(exposure <= 2.0, "\(line)")
    }

    @Test func unitDeclaresNotifyWatchdogAndDirectories() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        for directive in ["Type=notify", "WatchdogSec=", "StateDirectory=cellbench", "RuntimeDirectory=cellbench",
                          "SupplementaryGroups=dialout", "DeviceAllow=char-ttyUSB rw"] {
            #expect(text.contains(directive), "\(directive) missing")
        }
    }
}
