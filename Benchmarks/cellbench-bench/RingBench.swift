import ArgumentParser
import BenchCore
import Foundation

/// Ring buffer throughput: one writer, N readers each with its own cursor.
struct RingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ring", abstract: "Ring buffer records/s, one writer and N readers.")

    @Option(help: "Records to push.") var records = 5_000_000
    @Option(help: "Concurrent readers.") var readers = 4
    @Option(help: "Ring capacity in records.") var capacity = 1 << 16

    func run() async {
        let ring = RingBuffer<Sample>(capacity: capacity)
        let cursors = (0..<readers).map { _ in ring.makeCursor() }
        let total = UInt64(records)
        let start = BenchClock.monotonicNs()
        let results = await withTaskGroup(of: (UInt64, UInt64).self) { group in
            for start in cursors {
                group.addTask {
                    var cursor = start
                    var out: [Sample] = []
                    out.reserveCapacity(1024)
                    var received: UInt64 = 0
                    while true {
                        ring.read(&cursor, into: &out, maximum: 1024)
                        received += UInt64(out.count)
                        if out.isEmpty {
                            if ring.isClosed && !ring.hasData(after: cursor) { break }
                            await ring.waitForData(after: cursor)
                        }
                    }
                    return (received, cursor.missed)
                }
            }
            let writer = Task.detached {
                let t = Timestamp(monotonicNs: 0, wallNs: 0)
                for n in 0..<total {
                    ring.push(Sample(channel: ChannelID(Int(n % 64)), sequence: n, time: t, voltage: 3.7, current: 1))
                }
                ring.close()
            }
            await writer.value
            var all: [(UInt64, UInt64)] = []
            for await r in group { all.append(r) }
            return all
        }
        let seconds = Double(BenchClock.monotonicNs() - start) / 1e9
        let missed = results.reduce(0) { $0 + $1.1 }
        let delivered = results.reduce(0) { $0 + $1.0 }
        print("ring: \(records) records, \(readers) readers, capacity \(capacity)")
        print(String(format: "ring: %.0f records/s pushed (%.3f s); %llu records delivered to the readers (%.0f/s); overruns: %llu records",
                     Double(records) / seconds, seconds, delivered, Double(delivered) / seconds, missed))
    }
}
