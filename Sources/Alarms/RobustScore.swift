/// Robust outlier scores of a group of values: `(x − median) / max(1.4826·MAD, floor)`.
///
/// 1.4826·MAD estimates the standard deviation of normally distributed values
/// while ignoring a minority of outliers; `floor` keeps a very uniform group from
/// turning tiny differences into large scores.
public enum RobustScore {
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Median and scale (1.4826·MAD, at least `floor`).
    public static func center(_ values: [Double], floor: Double) -> (median: Double, scale: Double) {
        let m = median(values)
        let mad = median(values.map { abs($0 - m) })
        return (m, max(1.4826 * mad, floor))
    }

    /// Score of every value, in order.
    public static func scores(_ values: [Double], floor: Double) -> [Double] {
        let (m, scale) = center(values, floor: floor)
        return values.map { scale > 0 ? ($0 - m) / scale : 0 }
    }
}
