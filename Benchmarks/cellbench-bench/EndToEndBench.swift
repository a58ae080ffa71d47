import ArgumentParser
import BenchCore
import Foundation
import StatusServer

/// End to end on a running cellbenchd: sample-to-subscriber latency over the
/// status socket, and the daemon's CPU share and resident memory from /proc.
struct EndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e", abstract: "Latency of samples to a subscriber, daemon CPU share and RSS (run by Benchmarks/e2e/run.sh).")

    @Option(help: "Status socket of the running daemon.") var socket: String
    @Option(help: "Process id of the running daemon.") var pid: Int32
    @Option(help: "Seconds to measure.") var seconds = 30.0
    @Option(help: "Seconds to let the daemon settle first.") var warmup = 3.0

    func run() async throws {
        let measure = seconds
        let settle = warmup
        let result = try await StatusClient.withConnection(socketPath: socket) { connection in
            try await connection.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"]))
            _ = try await connection.reply(to: .number(1))
            var latencies: [Double] = []
            latencies.reserveCapacity(Int(measure * 10_000))
            var overruns: UInt64 = 0
            let begin = Date()
            var cpuStart: (cpu: Double, wall: Double)?
            var peakRSS = 0.0
            var lastRSSCheck = 0.0
            while let line = try await connection.next() {
                let now = Date().timeIntervalSince1970
                let elapsed = Date().timeIntervalSince(begin)
                if elapsed < settle { continue }
                if cpuStart == nil { cpuStart = (Self.cpuSeconds(pid: pid), now) }
                switch line.message {
                case .record(.sample(let s)): latencies.append(now - s.time)
                case .overrun(let o): overruns += o.missed
                default: break
                }
                if elapsed - lastRSSCheck >= 1 {
                    peakRSS = max(peakRSS, Self.residentMiB(pid: pid))
                    lastRSSCheck = elapsed
                }
                if elapsed >= settle + measure { break }
            }
            let cpuEnd = (Self.cpuSeconds(pid: pid), Date().timeIntervalSince1970)
            let share = cpuStart.map { (cpuEnd.0 - $0.cpu) / (cpuEnd.1 - $0.wall) } ?? .nan
            return (latencies, overruns, share, peakRSS)
        }
        let sorted = result.0.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] * 1000 }
        print(String(format: "e2e: %d samples in %.0f s (%.0f samples/s), overruns %llu", sorted.count, seconds, Double(sorted.count) / seconds, result.1))
        print(String(format: "e2e: latency p50 %.2f ms, p99 %.2f ms, max %.2f ms", percentile(0.5), percentile(0.99), percentile(1)))
        print(String(format: "e2e: daemon CPU %.1f %% of one core, peak RSS %.1f MiB", result.2 * 100, result.3))
    }

    /// User + system CPU seconds of a process, from /proc/PID/stat.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return .nan }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident set size of a process in MiB, from /proc/PID/status.
    static func residentMiB(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return .nan }
        return kib / 1024
    }
}
