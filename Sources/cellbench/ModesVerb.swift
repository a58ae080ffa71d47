import ArgumentParser
import BenchCore
import Electrochem
import Foundation
import Storage

/// `cellbench modes`: ageing modes of a channel's sweep history (modified NMF).
struct ModesVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modes",
        abstract: "Decompose a channel's impedance sweep history into ageing modes (non-negative activations, signed signatures).",
        discussion: """
            The first complete sweep is the reference; sweeps whose mean DC voltage is within --voltage-tolerance of \
            the reference's (same state of charge) are reduced by it. With --save the activations are written back to \
            the store as estimates mode.<k> (source nmf), one per sweep at its finish time. See docs/health.md.
            """
    )

    @Argument(help: "Channel name (for example A01).") var channel: String
    @Option(help: "Store file written by cellbenchd.") var store: String
    @Option(help: "Number of modes, or auto (bi-cross-validation over 1…--max-rank).") var rank: String = "auto"
    @Option(help: "Largest rank tried by --rank auto.") var maxRank: Int = 4
    @Option(help: "Sweeps match the reference when their mean DC voltage is this close, V.") var voltageTolerance: Double = 0.05
    @Flag(help: "Push activations towards disjoint support (one-sided orthogonality).") var orthogonal = false
    @Flag(help: "Write the activations to the store as estimates mode.<k>.") var save = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        if rank != "auto" && (Int(rank) ?? 0) < 1 { throw ValidationError("--rank must be a positive integer or auto, not '\(rank)'") }
        if maxRank < 1 { throw ValidationError("--max-rank must be at least 1") }
        if !(voltageTolerance > 0) { throw ValidationError("--voltage-tolerance must be positive") }
    }

    struct Output: Encodable, Sendable {
        struct Sweep: Encodable, Sendable { var sequence: UInt64; var wallNs: Int64; var activations: [Double] }
        struct Signature: Encodable, Sendable { var realOhm: [Double]; var imaginaryOhm: [Double] }
        var channel: String
        var channelID: ChannelID
        var referenceSweep: UInt64
        var rank: Int
        var crossValidation: [Double]?
        var relativeResidual: Double
        var frequenciesHz: [Double]
        var sweeps: [Sweep]
        var signatures: [Signature]
    }

    func run() async throws {
        // Store reads and the factorisation block: they run on a thread of their own.
        let output = try await onOwnThread { try analyse() }
        if save { try await ModeStore.save(output, channel: output.channelID, path: store) }
        if json { print(try ImpedanceFiles.json(output)) } else { printTable(output) }
    }

    private func analyse() throws -> Output {
        let reader = try StoreReader(path: store)
        let info = try reader.channel(named: channel)
        let complete = try reader.sweeps(channel: info.id).map(\.sweep).filter { $0.status == .complete }
        guard let reference = complete.first else { throw ValidationError("channel \(channel) has no complete sweep in \(store)") }
        let level = Self.meanVoltage(reference)
        let matching = complete.dropFirst().filter { !(level.isFinite) || abs(Self.meanVoltage($0) - level) <= voltageTolerance }
        guard matching.count >= 2 else {
            throw ValidationError("channel \(channel): \(matching.count) sweep(s) match the reference's state of charge; at least 2 needed")
        }
        let history: SweepHistory
        let modes: AgeingModes
        var errors: [Double]?
        do {
            history = try SweepHistory(reference: reference.points, sweeps: matching.map(\.points))
            var options = AgeingModeOptions(rank: Int(rank) ?? 1, orthogonal: orthogonal)
            if rank == "auto" {
                let largest = max(1, min(maxRank, min(history.rows.count, 2 * history.frequencies.count) / 2))
                let scores = try AgeingModes.crossValidationErrors(history.rows, ranks: 1...largest, options: options)
                errors = scores.map(\.error)
                options.rank = scores.min { $0.error < $1.error }?.rank ?? 1
            }
            modes = try AgeingModes.factor(history.rows, options: options)
        } catch let failure as SweepHistory.Failure {
            throw ValidationError("channel \(channel): \(failure)")
        } catch let failure as AgeingModeError {
            throw ValidationError("channel \(channel): \(failure)")
        }
        return Output(
            channel: info.name, channelID: info.id, referenceSweep: reference.sequence, rank: modes.rank, crossValidation: errors,
            relativeResidual: modes.relativeResidual, frequenciesHz: history.frequencies,
            sweeps: zip(matching, modes.activations).map { Output.Sweep(sequence: $0.sequence, wallNs: $0.finished.wallNs, activations: $1) },
            signatures: (0..<modes.rank).map { k in
                let (re, im) = history.ohms(modes.signatures.map { $0[k] })
                return Output.Signature(realOhm: re, imaginaryOhm: im)
            })
    }

    private static func meanVoltage(_ sweep: Sweep) -> Double {
        let values = sweep.points.map(\.dcVoltage).filter(\.isFinite)
        return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    private func printTable(_ o: Output) {
        print("Channel \(o.channel): \(o.sweeps.count) sweeps against reference sweep #\(o.referenceSweep), rank \(o.rank)"
              + (o.crossValidation.map { "  (bi-cross-validation error by rank: " + $0.map(ImpedanceFiles.number).joined(separator: ", ") + ")" } ?? ""))
        print("  relative residual \(ImpedanceFiles.number(o.relativeResidual))")
        for (k, s) in o.signatures.enumerated() {
            // Where the mode changes the spectrum most.
            let magnitude = zip(s.realOhm, s.imaginaryOhm).map { ($0 * $0 + $1 * $1).squareRoot() }
            let peak = magnitude.indices.max { magnitude[$0] < magnitude[$1] } ?? 0
            print("  mode \(k + 1): largest change at \(ImpedanceFiles.number(o.frequenciesHz[peak])) Hz: "
                  + "ΔRe \(ImpedanceFiles.number(s.realOhm[peak])) Ω, ΔIm \(ImpedanceFiles.number(s.imaginaryOhm[peak])) Ω per unit activation")
        }
        print("  sweep   time (UTC)                       " + (1...max(o.rank, 1)).map { "mode \($0)".padding(toLength: 10, withPad: " ", startingAt: 0) }.joined())
        for s in o.sweeps {
            print("  " + String(s.sequence).padding(toLength: 6, withPad: " ", startingAt: 0) + "  "
                  + WallTime.iso8601(wallNs: s.wallNs).padding(toLength: 31, withPad: " ", startingAt: 0) + "  "
                  + s.activations.map { String(format: "%.4f", $0).padding(toLength: 10, withPad: " ", startingAt: 0) }.joined())
        }
    }
}

/// Writes mode activations back to the store through the regular batch writer.
enum ModeStore {
    static func save(_ output: ModesVerb.Output, channel: ChannelID, path: String) async throws {
        let streams = BenchStreams()
        let writer = try await onOwnThread { try BatchWriter(path: path, streams: streams, watermarks: CommitWatermarks()) }
        writer.start()
        for sweep in output.sweeps {
            for (k, value) in sweep.activations.enumerated() {
                streams.estimates.push(Estimate(channel: channel, time: Timestamp(monotonicNs: 0, wallNs: sweep.wallNs),
                                                quantity: "mode.\(k + 1)", value: value, source: "nmf"))
            }
        }
        _ = try await writer.finish()
    }
}

/// Runs blocking work (store access, the factorisation) on a thread of its own, off the Swift concurrency pool.
private func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
