/// `value` with `decimals` digits after the point, without Foundation.
public func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e15 else { return "\(value)" }
    let digits = String(Int64(scaled))
    let padded = String(repeating: "0", count: max(0, decimals + 1 - digits.count)) + digits
    let whole = padded.dropLast(decimals)
    let fraction = padded.suffix(decimals)
    let sign = value < 0 && scaled > 0 ? "-" : ""
    return decimals > 0 ? "\(sign)\(whole).\(fraction)" : "\(sign)\(whole)"
}
