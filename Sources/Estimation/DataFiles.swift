import Fractional

/// A cycling recording: `time_s,current_a,voltage_v` (current positive into the cell).
public struct Recording: Sendable {
    public var times: [Double]
    public var currents: [Double]
    public var voltages: [Double]

    public init(times: [Double], currents: [Double], voltages: [Double]) {
        self.times = times
        self.currents = currents
        self.voltages = voltages
    }

    /// Reads a recording file; blocking I/O.
    public init(contentsOf path: String) throws(CSVError) {
        let csv = try CSVColumns(contentsOf: path, required: ["time_s", "current_a", "voltage_v"])
        guard csv.rowCount >= 2 else { throw CSVError(file: path, line: 0, column: nil, message: "needs at least two rows") }
        try csv.requireStrictlyIncreasing("time_s")
        self.init(times: csv["time_s"], currents: csv["current_a"], voltages: csv["voltage_v"])
    }
}

/// A current profile for simulation: `time_s,current_a`.
public struct CurrentProfile: Sendable {
    public var times: [Double]
    public var currents: [Double]

    public init(contentsOf path: String) throws(CSVError) {
        let csv = try CSVColumns(contentsOf: path, required: ["time_s", "current_a"])
        guard csv.rowCount >= 1 else { throw CSVError(file: path, line: 0, column: nil, message: "no data rows") }
        try csv.requireStrictlyIncreasing("time_s")
        times = csv["time_s"]
        currents = csv["current_a"]
    }
}

extension OCVTable {
    /// Reads an OCV table file `soc,ocv_v`; blocking I/O.
    public init(contentsOf path: String) throws(CSVError) {
        let csv = try CSVColumns(contentsOf: path, required: ["soc", "ocv_v"])
        try csv.requireStrictlyIncreasing("soc")
        do {
            try self.init(soc: csv["soc"], voltage: csv["ocv_v"])
        } catch {
            throw CSVError(file: path, line: 0, column: nil, message: error.description)
        }
    }
}

/// Writes numeric columns as CSV text with a header.
public func csvText(header: [String], columns: [[Double]]) -> String {
    var out = header.joined(separator: ",") + "\n"
    let count = columns.first?.count ?? 0
    out.reserveCapacity(count * 16 * columns.count)
    for i in 0..<count {
        out += columns.map { "\($0[i])" }.joined(separator: ",")
        out += "\n"
    }
    return out
}
