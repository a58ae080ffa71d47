import ArgumentParser
import BenchCore
import Estimation
import Fractional
import Foundation
import Storage

/// `cellbench health`: state of health of the cells in a store, recomputed from
/// the stored samples (and stored SOC and fit estimates) by the same tracker the
/// daemon runs online.
struct HealthVerb: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Capacity, resistance and fade forecast of a channel (or a summary of all) from a store.",
        discussion: "Methods and assumptions: docs/health.md."
    )

    @Argument(help: "Channel name (for example A01); all channels in a summary when omitted.") var channel: String?
    @Option(help: "Store file written by cellbenchd.") var store: String
    @Option(help: "Rated capacity, Ah (default: the channel's rated capacity in the store).") var rated: Double?
    @Option(help: "OCV table, CSV with columns soc,ocv_v: capacity from relaxed voltages.") var ocv: String?
    @Option(help: "Charge cut-off voltage, V: capacity by throughput from full to empty.") var upperVoltage: Double?
    @Option(help: "Discharge cut-off voltage, V.") var lowerVoltage: Double?
    @Option(help: "Minimum rest before a relaxed voltage counts, s.") var minimumRest: Double = 500
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Write the capacity trend and forecast as SVG.") var plot: String?

    func validate() throws {
        if let rated, !(rated > 0) { throw ValidationError("--rated must be a positive capacity in Ah") }
        if !(minimumRest > 0) { throw ValidationError("--minimum-rest must be positive") }
        if plot != nil && channel == nil { throw ValidationError("--plot needs a CHANNEL") }
    }

    func run() throws {
        let reader = try StoreReader(path: store)
        let curve = try ocv.map { try OCVTable(contentsOf: $0) }
        let channels = try channel.map { [try reader.channel(named: $0)] } ?? reader.channels()
        var reports: [HealthReport] = []
        for info in channels {
            let capacity = rated ?? info.ratedCapacityAh
            guard capacity > 0 else {
                throw ValidationError("channel \(info.name) has no rated capacity in the store: give --rated")
            }
            var settings = HealthSettings(ratedCapacityAh: capacity)
            settings.ocv = curve
            settings.upperVoltage = upperVoltage
            settings.lowerVoltage = lowerVoltage
            settings.minimumRestSeconds = minimumRest
            reports.append(try HealthReport(reader: reader, channel: info, settings: settings))
        }
        if let plot, let report = reports.first {
            try HealthPlot.svg(report).write(toFile: plot, atomically: true, encoding: .utf8)
        }
        if json {
            print(try ImpedanceFiles.json(reports))
        } else if channel == nil {
            printSummary(reports)
        } else {
            reports.forEach(printDetail)
        }
    }

    private func printSummary(_ reports: [HealthReport]) {
        print("channel   cycles   capacity/Ah  SOH_Q   check-up/Ah  SOH_R   cycles to 80 %")
        for r in reports {
            let last = r.capacities.last { !$0.checkup }
            let checkup = r.capacities.last(where: \.checkup)
            print(r.channel.padding(toLength: 8, withPad: " ", startingAt: 0) + "  "
                  + cell(r.equivalentCycles, 7, "%.1f") + "  " + cell(last?.capacityAh, 11, "%.4f") + "  "
                  + cell(last.map { $0.capacityAh / r.ratedCapacityAh }, 6, "%.3f") + "  " + cell(checkup?.capacityAh, 11, "%.4f") + "  "
                  + cell(r.sohR, 6, "%.3f") + "  "
                  + (r.forecast.remaining.map { String(format: "%.0f", $0) } ?? r.forecast.reason ?? "beyond horizon"))
        }
    }

    private func printDetail(_ r: HealthReport) {
        print("Channel \(r.channel): rated \(ImpedanceFiles.number(r.ratedCapacityAh)) Ah, "
              + String(format: "%.1f", r.equivalentCycles) + " equivalent full cycles")
        print("  time (UTC)                       cycles   capacity/Ah  σ/Ah     SOH_Q   cycle     method")
        for c in r.capacities {
            print("  " + WallTime.iso8601(wallNs: c.wallNs).padding(toLength: 31, withPad: " ", startingAt: 0) + "  "
                  + cell(c.equivalentCycles, 7, "%.1f") + "  " + cell(c.capacityAh, 11, "%.4f") + "  "
                  + cell(c.sigmaAh, 7, "%.4f") + "  " + cell(c.capacityAh / r.ratedCapacityAh, 6, "%.4f") + "  "
                  + (c.checkup ? "check-up" : "regular ") + "  " + c.method)
        }
        if r.capacities.isEmpty { print("  no capacity measurement (see docs/health.md: rests, OCV curve or cut-off voltages)") }
        for s in r.stepResistances {
            print("  \(s.quantity): first \(ImpedanceFiles.number(s.first)) Ω, last \(ImpedanceFiles.number(s.last)) Ω (\(s.count) steps)")
        }
        if let sohR = r.sohR { print("  SOH_R (last step, against the first in like conditions): " + String(format: "%.3f", sohR)) }
        if let model = r.forecast.model {
            print("  fade model: Q = \(ImpedanceFiles.number(model.q0)) − \(ImpedanceFiles.number(model.a))·√n − "
                  + "\(ImpedanceFiles.number(model.b))·n Ah (n: equivalent full cycles; residual σ "
                  + "\(ImpedanceFiles.number(model.residualSigma)) Ah)")
        }
        if let remaining = r.forecast.remaining {
            let low = r.forecast.low.map { String(format: "%.0f", $0) } ?? "?"
            let high = r.forecast.high.map { String(format: "%.0f", $0) } ?? "beyond horizon"
            print("  80 % of rated capacity in " + String(format: "%.0f", remaining) + " more cycles (90 % interval \(low)–\(high))")
        } else {
            print("  forecast: \(r.forecast.reason ?? "80 % not reached within the horizon")")
        }
    }

    private func cell(_ value: Double?, _ width: Int, _ format: String) -> String {
        (value.map { String(format: format, $0) } ?? "—").padding(toLength: width, withPad: " ", startingAt: 0)
    }
}
