import Foundation
import Synchronization
import Testing
@testable import BenchCore

@Suite(.timeLimit(.minutes(1))) struct RingBufferTests {
    private func sample(_ n: UInt64) -> Sample {
        Sample(channel: ChannelID(1), sequence: n, time: Timestamp(monotonicNs: Int64(n), wallNs: Int64(n)),
               voltage: Double(n), current: 0)
    }

    @Test func readsInOrderAcrossWrap() {
        let ring = RingBuffer<Sample>(capacity: 8)
        var cursor = ring.makeCursor(at: .next)
        var out: [Sample] = []
        var seen: [UInt64] = []
        for n in 0..<50 as Range<UInt64> {
            ring.push(sample(n))
            if n % 3 == 2 {
                let missed = ring.read(&cursor, into: &out)
                #expect(missed == 0)
                seen += out.map(\.sequence)
            }
        }
        ring.read(&cursor, into: &out)
        seen += out.map(\.sequence)
        #expect(seen == Array(0..<50))
    }

    @Test func overrunReportsExactMissedCount() {
        let ring = RingBuffer<Sample>(capacity: 16)
        var cursor = ring.makeCursor(at: .next)
        for n in 0..<100 as Range<UInt64> { ring.push(sample(n)) }
        var out: [Sample] = []
        let missed = ring.read(&cursor, into: &out)
        #expect(missed == 84)
        #expect(out.map(\.sequence) == Array(84..<100))
        #expect(cursor.missed == 84)
        // Caught up: no further loss reported.
        ring.push(sample(100))
        #expect(ring.read(&cursor, into: &out) == 0)
        #expect(out.map(\.sequence) == [100])
    }

    @Test func maximumLimitsBatchAndOldestCursorStartsAtRetained() {
        let ring = RingBuffer<Sample>(capacity: 4)
        for n in 0..<10 as Range<UInt64> { ring.push(sample(n)) }
        var cursor = ring.makeCursor(at: .oldest)
        var out: [Sample] = []
        #expect(ring.read(&cursor, into: &out, maximum: 3) == 0)
        #expect(out.map(\.sequence) == [6, 7, 8])
        ring.read(&cursor, into: &out)
        #expect(out.map(\.sequence) == [9])
    }

    @Test func concurrentReadersEachSeeEverythingOrCountTheirLoss() async {
        let ring = RingBuffer<Sample>(capacity: 1024)
        let total: UInt64 = 200_000
        let cursors = (0..<4).map { _ in ring.makeCursor(at: .next) }
        await withTaskGroup(of: (UInt64, UInt64, Bool).self) { group in
            for start in cursors {
                group.addTask {
                    var cursor = start
                    var out: [Sample] = []
                    var received: UInt64 = 0
                    var expectedNext: UInt64 = 0
                    var ordered = true
                    while true {
                        let missed = ring.read(&cursor, into: &out, maximum: 256)
                        expectedNext += missed
                        for s in out {
                            if s.sequence != expectedNext { ordered = false }
                            expectedNext = s.sequence + 1
                        }
                        received += UInt64(out.count)
                        if out.isEmpty {
                            if ring.isClosed && !ring.hasData(after: cursor) { break }
                            await ring.waitForData(after: cursor)
                        }
                    }
                    return (received, cursor.missed, ordered)
                }
            }
            group.addTask {
                for n in 0..<total {
                    ring.push(self.sample(n))
                    if n % 4096 == 0 { await Task.yield() }
                }
                ring.close()
                return (0, 0, true)
            }
            var readers = 0
            for await (received, missed, ordered) in group where received + missed > 0 {
                readers += 1
                #expect(ordered)
                #expect(received + missed == total, "every record is either received or counted as missed")
            }
            #expect(readers == 4)
        }
    }

    @Test func waitWakesOnPushAndOnCancel() async {
        let ring = RingBuffer<Int>(capacity: 4)
        let cursor = ring.makeCursor()
        async let waited: Void = ring.waitForData(after: cursor)
        try? await Task.sleep(for: .milliseconds(20))
        ring.push(1)
        await waited
        #expect(ring.hasData(after: cursor))

        let task = Task { await ring.waitForData(after: ring.makeCursor()) }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        await task.value // returns instead of hanging
    }

    /// Cancelling a waiting reader while the writer wakes it must not deadlock:
    /// cancellation holds the task's lock while its handler takes the ring's,
    /// so the writer may not resume readers while it holds the ring's lock.
    @Test func cancellingWaitersWhileWritingNeverDeadlocks() async {
        let ring = RingBuffer<Int>(capacity: 1024)
        let writing = Atomic<Bool>(true)
        let writer = Thread { while writing.load(ordering: .relaxed) { ring.push(0) } }
        writer.start()
        for _ in 0..<20_000 {
            let task = Task { await ring.waitForData(after: ring.makeCursor()) }
            task.cancel()
            await task.value
        }
        writing.store(false, ordering: .relaxed)
    }
}
