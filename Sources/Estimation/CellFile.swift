import Foundation
import Fractional
import TOMLConfig

/// A cell file: capacity, OCV table and the equivalent-circuit model of one cell (TOML, see docs/fractional.md).
///
/// ```toml
/// [cell]
/// capacity_ah = 5.0
/// ocv = "ocv.csv"          # soc,ocv_v table, relative to this file; omitted means 0 V
/// [model]
/// r0_ohm = 0.0663
/// [[model.branch]]         # R ∥ CPE: Z = R / (1 + R·T·(jω)^alpha); alpha = 1 is an RC
/// r_ohm = 0.0179
/// t = 3.42
/// alpha = 0.633
/// [model.warburg]          # Z = √2·σ / √(jω)   (or [model.diffusion] q, beta: Z = 1/(Q (jω)^β))
/// sigma = 8.56e-6
/// ```
public enum CellFile {
    /// Reads and validates a cell file and its OCV table. Blocking I/O.
    public static func load(_ path: String) throws -> CellModel {
        let document = try ConfigDocument(contentsOf: path)
        let root = document.root
        try root.rejectUnknownKeys(["cell", "model"])
        let cell = try root.table("cell")
        try cell.rejectUnknownKeys(["capacity_ah", "ocv"])
        let capacity = try cell.double("capacity_ah")
        guard capacity > 0 else { throw cell.error("capacity_ah", "must be > 0 Ah") }
        var ocv = OCVTable.zero
        if let ocvPath = try cell.optionalString("ocv") {
            ocv = try OCVTable(contentsOf: cell.resolvePath(ocvPath))
        }
        let model = try root.table("model")
        try model.rejectUnknownKeys(["r0_ohm", "branch", "warburg", "diffusion"])
        let r0 = try model.double("r0_ohm")
        guard r0 >= 0 else { throw model.error("r0_ohm", "must be ≥ 0 Ω") }
        var elements: [RelaxationElement] = []
        for branch in try model.tables("branch") {
            try branch.rejectUnknownKeys(["r_ohm", "t", "alpha"])
            let r = try branch.double("r_ohm")
            let t = try branch.double("t")
            let alpha = try branch.optionalDouble("alpha") ?? 1
            guard r > 0 else { throw branch.error("r_ohm", "must be > 0 Ω") }
            guard t > 0 else { throw branch.error("t", "must be > 0 (F·s^(alpha-1))") }
            guard alpha > 0, alpha <= 1 else { throw branch.error("alpha", "must be in (0, 1]") }
            elements.append(.parallelCPE(r: r, t: t, alpha: alpha))
        }
        let warburg = try model.optionalTable("warburg")
        let diffusion = try model.optionalTable("diffusion")
        if warburg != nil && diffusion != nil {
            throw model.error("diffusion", "give either [model.warburg] or [model.diffusion], not both")
        }
        if let warburg {
            try warburg.rejectUnknownKeys(["sigma"])
            let sigma = try warburg.double("sigma")
            guard sigma > 0 else { throw warburg.error("sigma", "must be > 0 Ω·s^-1/2") }
            elements.append(.warburg(sigma: sigma))
        }
        if let diffusion {
            try diffusion.rejectUnknownKeys(["q", "beta"])
            let q = try diffusion.double("q")
            let beta = try diffusion.double("beta")
            guard q > 0 else { throw diffusion.error("q", "must be > 0 (S·s^beta)") }
            guard beta > 0, beta < 1 else { throw diffusion.error("beta", "must be in (0, 1)") }
            elements.append(.diffusionCPE(q: q, beta: beta))
        }
        return CellModel(capacityAh: capacity, ocv: ocv, seriesResistance: r0, elements: elements)
    }

    /// TOML text of a cell file for `model`; `ocvPath` is written as given (relative to the cell file).
    public static func text(_ model: CellModel, ocvPath: String?, comment: String? = nil) -> String {
        var out = comment.map { "# \($0)\n" } ?? ""
        out += "[cell]\ncapacity_ah = \(model.capacityAh)\n"
        if let ocvPath { out += "ocv = \"\(ocvPath)\"\n" }
        out += "\n[model]\nr0_ohm = \(model.seriesResistance)\n"
        for element in model.elements {
            switch element {
            case let .parallelCPE(r, t, alpha):
                out += "\n[[model.branch]]\nr_ohm = \(r)\nt = \(t)\nalpha = \(alpha)\n"
            case let .diffusionCPE(q, beta) where beta == 0.5:
                out += "\n[model.warburg]\nsigma = \(1 / (q * Double(2).squareRoot()))\n"
            case let .diffusionCPE(q, beta):
                out += "\n[model.diffusion]\nq = \(q)\nbeta = \(beta)\n"
            }
        }
        return out
    }

    /// `target` expressed relative to the folder of `file` (both relative to the working directory or absolute).
    public static func relativePath(of target: String, fromFolderOf file: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        func components(_ p: String) -> [String] {
            URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: cwd, isDirectory: true)).standardizedFileURL.pathComponents
        }
        let to = components(target)
        let from = Array(components(file).dropLast())
        var common = 0
        while common < min(to.count, from.count) && to[common] == from[common] { common += 1 }
        return (Array(repeating: "..", count: from.count - common) + to[common...]).joined(separator: "/")
    }
}
