import ArgumentParser
import Electrochem
import Foundation

/// `cellbench train-inverse`: trains the inverse model on synthetic Li-ion spectra plus real ones.
struct TrainInverseVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-inverse",
        abstract: "Train the EIS inverse model (spectrum → li-ion circuit parameters) without labels.",
        discussion: "Mixes generated spectra with the real spectrum files found in --data. See docs/inverse-model.md."
    )

    @Option(help: "Directory of real spectrum files used for training (CSV, .mpt, .DTA, .z).") var data: String?
    @Option(help: "Model file to write (also written at each checkpoint).") var out: String
    @Option(help: "Adam steps.") var steps: Int = 20_000
    @Option(help: "Spectra per step.") var batch: Int = 32
    @Option(help: "Initial learning rate (cosine decay to 5% of it).") var learningRate: Double = 2e-3
    @Option(help: "Seed of the weights and of the generated spectra.") var seed: UInt64 = 1
    @Option(help: "Write the model every N steps.") var checkpointEvery: Int = 500
    @Option(help: "Continue from this model file instead of fresh weights.") var resume: String?

    func validate() throws {
        guard steps >= 1, batch >= 1, checkpointEvery >= 1 else { throw ValidationError("--steps, --batch and --checkpoint-every must be at least 1") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be a positive number") }
    }

    func run() throws {
        let real = try data.map(InverseFiles.spectra(in:)) ?? []
        var model = InverseModel(network: InverseNetwork(seed: seed))
        if let resume { model = try InverseFiles.model(resume) }
        var recipe = [
            "command": "cellbench train-inverse" + (data.map { " --data \($0)" } ?? "") + " --out \((out as NSString).lastPathComponent) --steps \(steps) --batch \(batch) --learning-rate \(learningRate) --seed \(seed)"
                + (resume.map { " --resume \(($0 as NSString).lastPathComponent)" } ?? ""),
            "seed": "\(seed)",
            "real-spectra": real.map(\.name).joined(separator: ","),
            "synthetic": "24 switch variants drawn at random (1-3 arcs), 0-2% proportional noise, random range 10^[-3,-0.5]..10^[2.5,4.5] Hz; real spectra with the full variant",
        ]
        // A resumed model keeps how its starting point was made.
        if resume != nil, let earlier = model.recipe["command"] { recipe["resumed-from"] = earlier }
        var trainer = InverseTrainer(model: model, realSpectra: real.map(\.spectrum), seed: seed, batchSize: batch, learningRate: learningRate)
        let progress = ProgressLine(total: steps)
        var recent: [Double] = []
        for step in 1...steps {
            trainer.learningRate = learningRate * (0.05 + 0.95 * 0.5 * (1 + cos(Double.pi * Double(step - 1) / Double(steps))))
            let (_, reconstruction) = trainer.step()
            recent.append(reconstruction.squareRoot())
            if recent.count > 200 { recent.removeFirst() }
            if step % 10 == 0 || step == steps {
                let sorted = recent.sorted()
                progress.show(step, detail: String(format: "median ρ %.4f", sorted[sorted.count / 2]))
            }
            if step % checkpointEvery == 0 || step == steps {
                recipe["steps"] = "\(step)"
                trainer.model.recipe = recipe
                try trainer.model.serialized().write(toFile: out, atomically: true, encoding: .utf8)
            }
        }
        progress.finish()
    }
}

/// A one-line progress bar on standard error: done/total, rate and ETA.
final class ProgressLine {
    let total: Int
    let start = Date()

    init(total: Int) { self.total = total }

    func show(_ done: Int, detail: String) {
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let width = 30, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r[%@] %d/%d  %@  elapsed %@  ETA %@ ", bar, done, total, detail,
                                                   Self.clock(elapsed), Self.clock(eta)).utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}

/// Reading model files and directories of spectra, shared by the inverse-model verbs.
enum InverseFiles {
    static func model(_ path: String) throws -> InverseModel {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
        do {
            return try InverseModel(bytes: Array(data), name: path)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Every spectrum file directly in `directory`, sorted by name; a file that cannot be read is an error.
    static func spectra(in directory: String) throws -> [(name: String, spectrum: Spectrum)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw ValidationError("\(directory): cannot list the directory (\(error.localizedDescription))")
        }
        var result: [(String, Spectrum)] = []
        for name in names where !name.hasPrefix(".") && !name.hasSuffix(".md") {
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            result.append((name, try ImpedanceFiles.read(path).spectrum))
        }
        guard !result.isEmpty else { throw ValidationError("\(directory): no spectrum files") }
        return result
    }
}
