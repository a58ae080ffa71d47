import Electrochem
import Foundation
import Numerics

/// Nyquist and Bode plots of a spectrum and its fit as one self-contained SVG.
enum ImpedancePlot {
    /// `out.svg` + `cell7.csv` → `out-cell7.svg`, for one plot per input file.
    static func path(_ base: String, for file: String) -> String {
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let url = base as NSString
        return url.deletingPathExtension + "-" + stem + ".svg"
    }

    static func svg(title: String, spectrum: Spectrum, circuit: Circuit, fit: FitResult) -> String {
        let low = spectrum.frequencies.min() ?? 1, high = spectrum.frequencies.max() ?? 1
        let dense = (0..<200).map { low * Double.pow(high / low, Double($0) / 199) }
        let model = circuit.impedance(parameters: fit.parameters.map(\.value), frequencies: dense)
        let logF = spectrum.frequencies.map { Double.log10($0) }, logDense = dense.map { Double.log10($0) }
        var body = ""
        body += panel(x: 60, y: 40, width: 380, height: 380, equalAspect: true,
                      data: (spectrum.impedance.map(\.real), spectrum.impedance.map { -$0.imaginary }),
                      line: (model.map(\.real), model.map { -$0.imaginary }),
                      xLabel: "Re Z / Ω", yLabel: "−Im Z / Ω")
        body += panel(x: 540, y: 40, width: 380, height: 160, equalAspect: false,
                      data: (logF, spectrum.impedance.map { Double.log10($0.length) }),
                      line: (logDense, model.map { Double.log10($0.length) }),
                      xLabel: "log10 f / Hz", yLabel: "log10 |Z| / Ω")
        body += panel(x: 540, y: 260, width: 380, height: 160, equalAspect: false,
                      data: (logF, spectrum.impedance.map { -phase($0) }),
                      line: (logDense, model.map { -phase($0) }),
                      xLabel: "log10 f / Hz", yLabel: "−phase / °")
        let caption = "\(escape(title)) — \(escape(fit.circuit)), RMSE \(String(format: "%.3g", fit.rmse)) Ω"
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="960" height="470" font-family="sans-serif" font-size="12">
        <rect width="960" height="470" fill="white"/>
        <text x="480" y="22" text-anchor="middle" font-size="14">\(caption)</text>
        \(body)<text x="60" y="462" fill="#1f77b4">● measured</text><text x="160" y="462" fill="#d62728">— fit</text>
        </svg>

        """
    }

    private static func phase(_ z: Complex<Double>) -> Double { Double.atan2(y: z.imaginary, x: z.real) * 180 / .pi }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private static func panel(x: Double, y: Double, width: Double, height: Double, equalAspect: Bool,
                              data: ([Double], [Double]), line: ([Double], [Double]), xLabel: String, yLabel: String) -> String {
        let xs = (data.0 + line.0).filter(\.isFinite), ys = (data.1 + line.1).filter(\.isFinite)
        var xMin = xs.min() ?? 0, xMax = xs.max() ?? 1, yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
        if xMax <= xMin { xMax = xMin + 1 }
        if yMax <= yMin { yMax = yMin + 1 }
        if equalAspect {
            // Same Ω per pixel on both axes, so arcs look like arcs.
            let scale = max((xMax - xMin) / width, (yMax - yMin) / height)
            xMax = xMin + scale * width
            yMax = yMin + scale * height
        }
        func px(_ v: Double) -> Double { x + (v - xMin) / (xMax - xMin) * width }
        func py(_ v: Double) -> Double { y + height - (v - yMin) / (yMax - yMin) * height }
        var svg = "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#888\"/>\n"
        let points = zip(line.0, line.1).filter { $0.isFinite && $1.isFinite }
            .map { String(format: "%.1f,%.1f", px($0), py($1)) }.joined(separator: " ")
        svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n"
        for (a, b) in zip(data.0, data.1) where a.isFinite && b.isFinite {
            svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#1f77b4\"/>\n", px(a), py(b))
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%.4g</text>", x, y + height + 14, xMin)
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>", x + width, y + height + 14, xMax)
        svg += "<text x=\"\(x + width / 2)\" y=\"\(y + height + 28)\" text-anchor=\"middle\">\(xLabel)</text>\n"
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>", x - 4, y + height, yMin)
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>", x - 4, y + 10, yMax)
        svg += "<text transform=\"translate(\(x - 44),\(y + height / 2)) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>\n"
        return svg
    }
}
