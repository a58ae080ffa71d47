import BenchCore
import Foundation
import Testing
@testable import Storage

@Suite struct BatchWriterTests {
    private let a = ChannelID(1)
    private let b = ChannelID(2)

    @Test func batchClosesAtSizeAndRestWaitsForInterval() async throws {
        let dir = try TempDirectory()
        let path = dir.file("size.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks(),
                                     options: BatchOptions(batchSize: 100, interval: .seconds(30)))
        for n in 1...250 as ClosedRange<UInt64> { streams.samples.push(sample(a, n)) }
        writer.start()
        #expect(await eventually { writer.counters.batches == 2 })
        // The interval is far away: the 50 left wait in the open batch, uncommitted.
        try await Task.sleep(for: .milliseconds(100))
        let reader = try StoreReader(path: path)
        #expect(writer.counters.batches == 2)
        #expect(writer.counters.samples == 200)
        #expect(writer.counters.pending == 50)
        #expect(try reader.samples(channel: a).count == 200)

        let final = try await writer.finish()
        #expect(final.samples == 250 && final.batches == 3 && final.pending == 0 && final.lag == 0)
        #expect(try reader.samples(channel: a).map(\.sequence) == Array(1...250))
    }

    @Test func loneSampleIsCommittedAfterTheInterval() async throws {
        let dir = try TempDirectory()
        let streams = BenchStreams()
        let marks = CommitWatermarks()
        let interval = Duration.milliseconds(50)
        let writer = try BatchWriter(path: dir.file("interval.db"), streams: streams, watermarks: marks,
                                     options: BatchOptions(batchSize: 4096, interval: interval))
        writer.start()
        let pushed = BenchClock.monotonicNs()
        streams.samples.push(sample(a, 1))
        #expect(await eventually { marks.committed(a) == 1 })
        let elapsed = Double(BenchClock.monotonicNs() - pushed) / 1e9
        // Not before the interval (the batch waits for company). Committing at all proves the
        // interval closed the batch (it holds 1 of 4096 rows); the upper bound only guards
        // against a stall and leaves room for a fully loaded 2-core machine.
        #expect(elapsed >= 0.050)
        #expect(elapsed < 5.0)
        #expect(writer.counters.batches == 1)
        try await writer.finish()
    }

    @Test func watermarksAdvanceOnlyAfterCommit() async throws {
        let dir = try TempDirectory()
        let path = dir.file("marks.db")
        let streams = BenchStreams()
        let marks = CommitWatermarks()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: marks,
                                     options: BatchOptions(batchSize: 60, interval: .seconds(30)))
        writer.start()
        let reader = try StoreReader(path: path)
        for n in 1...30 as ClosedRange<UInt64> {
            streams.samples.push(sample(a, n))
            streams.samples.push(sample(b, 100 + n))
        }
        #expect(await eventually { writer.counters.pending == 60 || writer.counters.batches == 1 })
        #expect(await eventually { marks.committed(a) == 30 })
        // Whatever a watermark says is already readable by another connection.
        #expect(try reader.samples(channel: a).count == 30)
        #expect(marks.committed(b) == 130)
        #expect(try reader.samples(channel: b).count == 30)

        // Below the batch size and before the interval: no commit, so no watermark.
        streams.samples.push(sample(a, 31))
        try await Task.sleep(for: .milliseconds(100))
        #expect(marks.committed(a) == 30)
        #expect(try reader.latestSampleSequences()[a] == 30)
        try await writer.finish()
        #expect(marks.committed(a) == 31)
        #expect(try reader.latestSampleSequences() == [a: 31, b: 130])
    }

    @Test func redeliveredSamplesAreIgnored() async throws {
        let dir = try TempDirectory()
        let path = dir.file("dup.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks())
        for n in 1...3 as ClosedRange<UInt64> { streams.samples.push(sample(a, n, voltage: 3.0 + Double(n) / 10)) }
        writer.start()
        #expect(await eventually { writer.counters.samples == 3 })
        // The instrument re-sends 2 and 3 (not acknowledged in time; received later, so a later
        // wall time) and then 4.
        for n in 2...4 as ClosedRange<UInt64> {
            streams.samples.push(sample(a, n, wallNs: march1Noon + 5_000_000_000, voltage: 3.0 + Double(n) / 10))
        }
        let final = try await writer.finish()
        #expect(final.samples == 4)
        #expect(final.duplicateSamples == 2)
        #expect(final.conflictingSamples == 0 && final.events == 0)
        let stored = try StoreReader(path: path).samples(channel: a)
        #expect(stored.map(\.sequence) == [1, 2, 3, 4])
        #expect(stored.map(\.voltage) == [3.1, 3.2, 3.3, 3.4])
        #expect(stored.map(\.time.wallNs) == [march1Noon, march1Noon, march1Noon, march1Noon + 5_000_000_000])
    }

    /// A reused sequence with different values is not a re-delivery: it is not stored
    /// silently over nor silently dropped, but reported.
    @Test func reusedSequenceIsReported() async throws {
        let dir = try TempDirectory()
        let path = dir.file("reuse.db")
        let streams = BenchStreams()
        let marks = CommitWatermarks()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: marks)
        for n in 1...5 as ClosedRange<UInt64> { streams.samples.push(sample(a, n)) }
        writer.start()
        #expect(await eventually { marks.committed(a) == 5 })
        // The instrument was power-cycled and counts from 1 again: other times, other values.
        for n in 1...2 as ClosedRange<UInt64> {
            var restarted = sample(a, n, voltage: 3.9)
            restarted.instrumentTime = 0.5 * Double(n)
            streams.samples.push(restarted)
        }
        let final = try await writer.finish()
        #expect(final.samples == 5 && final.duplicateSamples == 0 && final.conflictingSamples == 2)
        let reader = try StoreReader(path: path)
        #expect(try reader.samples(channel: a).map(\.voltage) == Array(repeating: 3.7, count: 5))
        let event = try #require(try reader.events().first)
        #expect(event.kind == "sequence-conflict" && event.severity == .error && event.channel == a)
        #expect(event.message.hasPrefix("2 samples were not stored") && event.message.contains("sequence 1"))
    }

    @Test func everyRecordKindRoundTrips() async throws {
        let dir = try TempDirectory()
        let path = dir.file("kinds.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks())
        let info = try writer.registerChannel(name: "A01", instrument: "fra-1", instrumentChannel: 0, ratedCapacityAh: 3.2)
        let t = Timestamp(monotonicNs: 5, wallNs: march1Noon)
        let sweep = Sweep(channel: info.id, sequence: 4, started: t,
                          finished: Timestamp(monotonicNs: 9, wallNs: march1Noon + 60_000_000_000),
                          settings: SweepSettings(mode: .potentiostatic, amplitude: 0.005, bias: 0, startFrequency: 1000,
                                                  stopFrequency: 1, pointsPerDecade: 1, cyclesPerPoint: 3),
                          points: [ImpedancePoint(frequency: 1000, zReal: 0.021, zImag: -0.001, dcVoltage: 3.7, dcCurrent: 0),
                                   ImpedancePoint(frequency: 100, zReal: 0.024, zImag: -0.004),
                                   ImpedancePoint(frequency: 10, zReal: 0.03, zImag: -0.006),
                                   ImpedancePoint(frequency: 1, zReal: 0.041, zImag: -0.002)],
                          status: .complete)
        streams.sweeps.push(sweep)
        streams.sweeps.push(sweep)  // re-delivered: ignored
        let event = BenchEvent(channel: nil, time: t, severity: .warning, kind: "link-lost", message: "fra-1 stopped answering",
                               instrument: "fra-1")
        streams.events.push(event)
        let estimate = Estimate(channel: info.id, time: t, quantity: "soc", value: 0.62, sigma: 0.01, source: "foekf")
        streams.estimates.push(estimate)
        streams.estimates.push(Estimate(channel: info.id, time: t, quantity: "r0_ohm", value: 0.021, source: "fit"))
        var alarm = Alarm(id: 1, channel: info.id, rule: "over-temperature", severity: .critical, message: "cell at 61 °C",
                          raised: t)
        streams.alarms.push(alarm)
        streams.alarms.push(Alarm(channel: nil, rule: "disk", severity: .warning, message: "disk 90 % full", raised: t))
        writer.submit(SweepAnalysis(channel: info.id, sweepSequence: 4, updatedWallNs: march1Noon,
                                    resultJSON: #"{"kk":"pass"}"#))
        writer.start()
        #expect(await eventually { writer.counters.alarms == 2 && writer.counters.analyses == 1 })

        // Lifecycle: the same alarm, acknowledged then cleared.
        alarm.state = .acknowledged
        alarm.acknowledgedBy = "ana"
        alarm.acknowledgedAt = Timestamp(monotonicNs: 6, wallNs: march1Noon + 1)
        alarm.note = "fan replaced"
        streams.alarms.push(alarm)
        #expect(await eventually { writer.counters.alarms == 3 })
        let reader = try StoreReader(path: path)
        #expect(try reader.alarms(in: [.acknowledged]).map(\.id) == [1])
        alarm.state = .cleared
        alarm.cleared = Timestamp(monotonicNs: 7, wallNs: march1Noon + 2)
        streams.alarms.push(alarm)
        let final = try await writer.finish()
        #expect(final.sweeps == 1 && final.sweepPoints == 4 && final.events == 1 && final.estimates == 2)

        #expect(try reader.channels() == [info])
        let stored = try reader.sweeps(channel: info.id)
        #expect(stored.count == 1)
        #expect(stored.first?.analysisJSON == #"{"kk":"pass"}"#)
        let back = try #require(stored.first?.sweep)
        #expect(back.settings == sweep.settings && back.status == .complete && back.started == t)
        #expect(back.points.count == 4)
        #expect(back.points[0] == sweep.points[0])
        #expect(back.points[1].zImag == -0.004 && back.points[1].dcVoltage.isNaN)
        #expect(try reader.events() == [event])
        let estimates = try reader.estimates(channel: info.id, quantity: "soc")
        #expect(estimates == [estimate])
        #expect(try reader.estimates(channel: info.id).count == 2)
        #expect(try reader.alarm(id: 1) == alarm)
        #expect(try reader.alarms(in: [.active]).map(\.rule) == ["disk"])
        #expect(try reader.alarms().count == 2)
        #expect(try reader.highestAlarmID() == 2)
    }

    @Test func channelKeepsItsIDAcrossRegistrations() async throws {
        let dir = try TempDirectory()
        let path = dir.file("channels.db")
        let first = try BatchWriter(path: path, streams: BenchStreams(), watermarks: CommitWatermarks())
        let a01 = try first.registerChannel(name: "A01", instrument: "cycler-1", instrumentChannel: 0)
        let a02 = try first.registerChannel(name: "A02", instrument: "cycler-1", instrumentChannel: 1)
        try await first.finish()
        #expect(throws: StoreError.closed(path: path)) {
            try first.registerChannel(name: "A03", instrument: "cycler-1", instrumentChannel: 2)
        }
        // Reconfigured: A02 listed first and moved to another instrument.
        let second = try BatchWriter(path: path, streams: BenchStreams(), watermarks: CommitWatermarks())
        let moved = try second.registerChannel(name: "A02", instrument: "cycler-2", instrumentChannel: 0, ratedCapacityAh: 5)
        let again = try second.registerChannel(name: "A01", instrument: "cycler-1", instrumentChannel: 0)
        try await second.finish()
        #expect(moved.id == a02.id && again.id == a01.id && a01.id != a02.id)
        #expect(try StoreReader(path: path).channel(named: "A02").instrument == "cycler-2")
    }

    @Test func reopenedStoreKeepsEverythingAndStaysIntact() async throws {
        let dir = try TempDirectory()
        let path = dir.file("reopen.db")
        for run in 0..<3 as Range<UInt64> {
            let streams = BenchStreams()
            let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks(),
                                         options: BatchOptions(batchSize: 64))
            writer.start()
            for n in 1...500 as ClosedRange<UInt64> { streams.samples.push(sample(a, run * 500 + n)) }
            streams.events.push(BenchEvent(channel: a, severity: .info, kind: "run", message: "run \(run)"))
            streams.closeAll()
            let final = try await writer.finish()
            #expect(final.samples == 500 && final.events == 1)
        }
        #expect(try sqliteShell(path, "PRAGMA integrity_check") == "ok")
        #expect(try sqliteShell(path, "SELECT count(*), min(sequence), max(sequence) FROM samples") == "1500|1|1500")
        let reader = try StoreReader(path: path)
        #expect(try reader.events().map(\.message) == ["run 0", "run 1", "run 2"])
        // finish() checkpointed: the WAL holds nothing.
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        #expect(wal == 0)
    }

    @Test func ringOverrunIsRecordedAndHoldsTheWatermark() async throws {
        let dir = try TempDirectory()
        let path = dir.file("overrun.db")
        let streams = BenchStreams(sampleCapacity: 16)
        let marks = CommitWatermarks()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: marks,
                                     options: BatchOptions(batchSize: 4096, interval: .milliseconds(5)))
        // 100 samples before the writer reads: the ring keeps the last 16, 84 are lost.
        for n in 1...100 as ClosedRange<UInt64> { streams.samples.push(sample(a, n)) }
        writer.start()
        #expect(await eventually { writer.counters.samples == 16 && writer.counters.events == 1 })
        #expect(writer.counters.missed == 84)
        let reader = try StoreReader(path: path)
        let loss = try #require(try reader.events().first)
        #expect(loss.severity == .error && loss.kind == "store-overrun")
        #expect(loss.message.contains("84 samples"))
        // 85…100 are stored but 1…84 are not: the instrument must not be told to free them.
        #expect(marks.committed(a) == nil)

        // The driver re-sends from the last acknowledged record; the watermark follows the unbroken run.
        for start in stride(from: 1 as UInt64, through: 84, by: 12) {
            for n in start..<min(start + 12, 85) { streams.samples.push(sample(a, n)) }
            #expect(await eventually { writer.counters.lag == 0 && writer.counters.pending == 0 })
            #expect(marks.committed(a) == min(start + 11, 84) || marks.committed(a) == 100)
        }
        #expect(await eventually { marks.committed(a) == 100 })
        // Released: new samples move the watermark at once again.
        streams.samples.push(sample(a, 101))
        #expect(await eventually { marks.committed(a) == 101 })
        let final = try await writer.finish()
        #expect(final.samples == 101 && final.missed == 84)
        #expect(try reader.samples(channel: a).map(\.sequence) == Array(1...101))
    }

    @Test func invalidOptionsAreRefused() throws {
        let dir = try TempDirectory()
        #expect(throws: StoreError.self) {
            try BatchWriter(path: dir.file("x.db"), streams: BenchStreams(), watermarks: CommitWatermarks(),
                            options: BatchOptions(batchSize: 0))
        }
        #expect(throws: StoreError.self) {
            try BatchWriter(path: dir.file("x.db"), streams: BenchStreams(), watermarks: CommitWatermarks(),
                            options: BatchOptions(interval: .zero))
        }
    }
}

@Suite struct StoreQueriesTests {
    @Test func queriesRunOffThePoolAndSeeCommittedData() async throws {
        let dir = try TempDirectory()
        let path = dir.file("queries.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks())
        let a01 = try writer.registerChannel(name: "A01", instrument: "cycler-1", instrumentChannel: 0)
        for n in 1...10 as ClosedRange<UInt64> { streams.samples.push(sample(a01.id, n, wallNs: march1Noon + Int64(n))) }
        try await writer.finish()

        let queries = try StoreQueries(path: path)
        async let latest = queries.run { try $0.latestSampleSequences() }
        async let newest = queries.run { try $0.samples(channel: a01.id, order: .newestFirst, limit: 3).map(\.sequence) }
        #expect(try await latest == [a01.id: 10])
        #expect(try await newest == [10, 9, 8])
        await #expect(throws: StoreError.unknownChannel(name: "Z9", path: path)) {
            try await queries.run { try $0.channel(named: "Z9") }
        }
    }
}

@Suite struct FailedCommitTests {
    private let a = ChannelID(1)
    private let options = BatchOptions(batchSize: 4096, interval: .milliseconds(10), retryPause: .milliseconds(50),
                                       busyTimeout: .milliseconds(50))

    /// Another connection holds the write lock: commits fail, nothing is marked committed,
    /// and the same batch goes in once the lock is released.
    @Test func failedBatchIsRetriedWhole() async throws {
        let dir = try TempDirectory()
        let path = dir.file("busy.db")
        let streams = BenchStreams()
        let marks = CommitWatermarks()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: marks, options: options)
        let blocker = try SQLiteDatabase(path: path, create: false)
        try blocker.execute("BEGIN EXCLUSIVE")
        writer.start()
        for n in 1...20 as ClosedRange<UInt64> { streams.samples.push(sample(a, n)) }
        streams.events.push(BenchEvent(channel: a, severity: .info, kind: "note", message: "once"))
        #expect(await eventually { writer.counters.failedCommits >= 2 })
        #expect(writer.counters.lastError?.contains("locked") == true)
        #expect(writer.counters.samples == 0 && writer.counters.pending == 21)
        #expect(marks.committed(a) == nil)

        try blocker.execute("COMMIT")
        #expect(await eventually { marks.committed(a) == 20 })
        let final = try await writer.finish()
        #expect(final.samples == 20 && final.duplicateSamples == 0 && final.events == 1 && final.batches == 1)
        #expect(try StoreReader(path: path).events().map(\.message) == ["once"])
    }

    /// finish() cannot commit: it gives up after a few attempts and says how many records were not stored.
    @Test func finishReportsWhatItCouldNotCommit() async throws {
        let dir = try TempDirectory()
        let path = dir.file("stuck.db")
        let streams = BenchStreams()
        let writer = try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks(), options: options)
        let blocker = try SQLiteDatabase(path: path, create: false)
        try blocker.execute("BEGIN EXCLUSIVE")
        for n in 1...5 as ClosedRange<UInt64> { streams.samples.push(sample(a, n)) }
        do {
            try await writer.finish()
            Issue.record("finish() claimed success while the store was locked")
        } catch let StoreError.unflushed(records, failedPath, cause) {
            #expect(records == 5 && failedPath == path && cause.contains("locked"))
        }
        try blocker.execute("ROLLBACK")
    }
}
