import ArgumentParser
import BenchCore
import Foundation
import Storage

/// Store ingest: samples pushed through the ring and the batch writer into a real SQLite file.
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Samples/s from the ring through the batch writer into a store file (WAL, synchronous=FULL).")

    @Option(help: "Samples to push.") var samples = 2_000_000
    @Option(help: "Channels the samples are spread over.") var channels = 64
    @Option(help: "Records per transaction.") var batchSize = 4096
    @Option(help: "Store file to create (must not exist).") var store: String
    @Flag(help: "Only create the empty store (the schema the C reference program fills), then exit.")
    var schemaOnly = false

    func validate() throws {
        guard !FileManager.default.fileExists(atPath: store) else {
            throw ValidationError("--store '\(store)' exists; give a new file")
        }
        guard samples > 0, channels > 0, batchSize > 0 else {
            throw ValidationError("--samples, --channels and --batch-size must be positive")
        }
    }

    func run() async throws {
        let streams = BenchStreams()
        let writer = try BatchWriter(path: store, streams: streams, watermarks: CommitWatermarks(),
                                     options: BatchOptions(batchSize: batchSize))
        if schemaOnly {
            try await writer.finish()
            return
        }
        let total = samples, channelCount = channels
        let headroom = UInt64(streams.samples.capacity - 2 * batchSize)
        let start = BenchClock.monotonicNs()
        writer.start()
        let producer = Task.detached {
            for n in 0..<total {
                // Stay within the ring: this measures the writer, not overruns.
                if n % 1024 == 0 {
                    while writer.counters.lag > headroom { try? await Task.sleep(for: .milliseconds(2)) }
                }
                streams.samples.push(IngestBench.sample(n, channels: channelCount))
            }
            streams.closeAll()
        }
        await producer.value
        let final = try await writer.finish()
        let seconds = Double(BenchClock.monotonicNs() - start) / 1e9
        print("swift: \(samples) samples, \(channels) channels, batch \(batchSize): "
            + String(format: "%.0f samples/s (%.3f s); %llu batches, peak commit %.1f ms, missed %llu",
                     Double(final.samples) / seconds, seconds, final.batches, final.peakCommitSeconds * 1e3, final.missed))
        guard final.samples == UInt64(samples), final.missed == 0 else {
            throw ValidationError("stored \(final.samples) of \(samples) samples, \(final.missed) missed")
        }
    }

    /// Sample `n` of the synthetic stream; ingest_c.c generates the same values.
    static func sample(_ n: Int, channels: Int) -> Sample {
        let t = Int64(n) * 1000
        return Sample(channel: ChannelID(n % channels + 1), sequence: UInt64(n / channels + 1),
                      time: Timestamp(monotonicNs: t, wallNs: 1_772_366_400_000_000_000 + t),
                      instrumentTime: Double(n) * 1e-6, voltage: 3.7 + Double(n % 100) * 1e-4, current: 1.5,
                      temperature: 25, charge: Double(n) * 1e-7)
    }
}
