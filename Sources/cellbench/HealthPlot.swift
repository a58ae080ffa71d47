import Foundation

/// Capacity against equivalent full cycles with ±σ bars, the fitted fade curve
/// and the 80 % line, as one self-contained SVG.
enum HealthPlot {
    static func svg(_ report: HealthReport) -> String {
        let (left, top, width, height) = (70.0, 40.0, 620.0, 320.0)
        let now = report.capacities.last?.equivalentCycles ?? 0
        let end = max(now + (report.forecast.high ?? report.forecast.remaining ?? 0.2 * now), 1)
        let threshold = 0.8 * report.ratedCapacityAh
        var curve: [(Double, Double)] = []
        if let m = report.forecast.model {
            curve = (0...200).map { k in
                let n = end * Double(k) / 200
                return (n, m.q0 - m.a * n.squareRoot() - m.b * n)
            }
        }
        let values = report.capacities.flatMap { [$0.capacityAh - $0.sigmaAh, $0.capacityAh + $0.sigmaAh] } + curve.map(\.1)
        let yLow = min(values.min() ?? threshold, threshold) * 0.98
        let yHigh = max(values.max() ?? report.ratedCapacityAh, report.ratedCapacityAh) * 1.01
        func x(_ n: Double) -> Double { left + n / end * width }
        func y(_ q: Double) -> Double { top + height - (q - yLow) / (yHigh - yLow) * height }

        var body = "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#888\"/>\n"
        body += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"6 4\"/>\n",
                       left, y(threshold), left + width, y(threshold))
        body += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#666\">80 %%</text>\n", left + width - 4, y(threshold) - 4)
        if !curve.isEmpty {
            let points = curve.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            body += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n"
        }
        for c in report.capacities {
            let colour = c.checkup ? checkupColour : regularColour
            body += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" ",
                           x(c.equivalentCycles), y(c.capacityAh - c.sigmaAh), x(c.equivalentCycles), y(c.capacityAh + c.sigmaAh))
                + "stroke=\"\(colour)\"/>\n"
            body += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" ", x(c.equivalentCycles), y(c.capacityAh))
                + "fill=\"\(colour)\" class=\"\(c.checkup ? "checkup" : "regular")\"/>\n"
        }
        for (value, anchor) in [(0.0, "start"), (end, "end")] {
            body += "<text x=\"\(x(value))\" y=\"\(top + height + 16)\" text-anchor=\"\(anchor)\">" + String(format: "%.0f", value) + "</text>\n"
        }
        for value in [yLow, yHigh] {
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n", left - 6, y(value) + 4, value)
        }
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="720" height="420" font-family="sans-serif" font-size="12">
        <rect width="720" height="420" fill="white"/>
        <text x="360" y="22" text-anchor="middle" font-size="14">Capacity of \(escape(report.channel)) (rated \(report.ratedCapacityAh) Ah)</text>
        \(body)<text x="\(left + width / 2)" y="\(top + height + 34)" text-anchor="middle">equivalent full cycles</text>
        <text transform="translate(20,\(top + height / 2)) rotate(-90)" text-anchor="middle">capacity / Ah</text>
        <text x="\(left)" y="410" fill="\(regularColour)">● regular cycles ±σ</text><text x="\(left + 150)" y="410" fill="\(checkupColour)">● check-ups ±σ</text><text x="\(left + 280)" y="410" fill="#d62728">— fade model</text>
        </svg>

        """
    }

    private static let regularColour = "#1f77b4"
    private static let checkupColour = "#ff7f0e"

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
