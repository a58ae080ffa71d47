import TOMLConfig

/// The instruments `cellbench simulate --config FILE` serves: the reference
/// analyzer and galvanostat on pseudo-terminals, the reference cycler over
/// Modbus TCP on loopback and over Modbus RTU on a pseudo-terminal, each
/// measuring its own virtual cells.
public final class SimulatedInstruments: Sendable {
    public let analyzer: SimulatedAnalyzer?
    public let galvanostat: SimulatedGalvanostat?
    public let tcpCycler: SimulatedCycler?
    public let rtuBus: SimulatedRTUBus?
    private let memoryKeeper: CyclerMemoryKeeper?

    /// Reads the simulator file and starts what it describes. Errors name file, line and key.
    public init(document: ConfigDocument) throws {
        let root = document.root
        try root.rejectUnknownKeys(["time_scale", "analyzer", "galvanostat", "cycler"])
        let timeScale = try root.double("time_scale", in: 0.001...100_000, default: 1)

        func cell(_ table: ConfigTable, soc: Double) throws(ConfigError) -> VirtualCell {
            var parameters = CellParameters()
            parameters.capacityAh = try table.double("capacity_ah", in: 0.001...10_000, default: parameters.capacityAh)
            return VirtualCell(parameters: parameters, soc: soc)
        }
        func link(_ table: ConfigTable, _ key: String) throws(ConfigError) -> String? {
            try table.optionalString(key).map(table.resolvePath)
        }

        if let table = try root.optionalTable("analyzer") {
            try table.rejectUnknownKeys(["link", "capacity_ah", "soc"])
            analyzer = try SimulatedAnalyzer(cell: cell(table, soc: try table.double("soc", in: 0...1, default: 0.5)),
                                             timeScale: timeScale, link: link(table, "link"))
        } else {
            analyzer = nil
        }
        if let table = try root.optionalTable("galvanostat") {
            try table.rejectUnknownKeys(["link", "capacity_ah", "soc"])
            galvanostat = try SimulatedGalvanostat(cell: cell(table, soc: try table.double("soc", in: 0...1, default: 0.5)),
                                                   timeScale: timeScale, link: link(table, "link"))
        } else {
            galvanostat = nil
        }
        if let table = try root.optionalTable("cycler") {
            try table.rejectUnknownKeys(["channels", "capacity_ah", "tcp_port", "rtu_link", "rtu_unit", "state_file"])
            let count = try table.int("channels", in: 1...32, default: 8)
            // Staggered states of charge so that a demo shows every phase at once.
            let cells = try (0..<count).map { k throws(ConfigError) in try cell(table, soc: 0.15 + 0.7 * Double(k % 8) / 7) }
            let statePath = try link(table, "state_file")
            var memory = CyclerMemoryFile()
            if let statePath {
                memory = try CyclerMemoryFile.load(path: statePath)
                for m in [memory.tcp].compactMap({ $0 }) + Array(memory.rtu.values) {
                    try m.check(channels: count, timeScale: timeScale, file: statePath)
                }
            }
            let tcpMemory = memory.tcp
            tcpCycler = try table.optionalInt("tcp_port").map { port throws(ConfigError) in
                guard (0...65535).contains(port) else { throw table.error("tcp_port", "port \(port) is outside 0...65535") }
                return port
            }.map { port in try SimulatedCycler(cells: cells, timeScale: timeScale, port: port, memory: tcpMemory) }
            if let rtuLink = try link(table, "rtu_link") {
                let unit = try table.int("rtu_unit", in: 1...247, default: 1)
                rtuBus = try SimulatedRTUBus(cyclers: [unit: cells], timeScale: timeScale, link: rtuLink,
                                             memories: memory.rtu.filter { $0.key == unit })
            } else {
                rtuBus = nil
            }
            if let statePath {
                memoryKeeper = CyclerMemoryKeeper(path: statePath, tcp: tcpCycler, rtu: rtuBus)
            } else {
                memoryKeeper = nil
            }
        } else {
            tcpCycler = nil
            rtuBus = nil
            memoryKeeper = nil
        }
    }

    /// One line per instrument: what it is and where to reach it.
    public var endpoints: [String] {
        var lines: [String] = []
        if let analyzer { lines.append("analyzer     \(analyzer.path) -> \(analyzer.devicePath)  (115200 8N1, fra-scpi)") }
        if let galvanostat { lines.append("galvanostat  \(galvanostat.path) -> \(galvanostat.devicePath)  (115200 8N1, dc-scpi)") }
        if let tcpCycler { lines.append("cycler       modbus tcp 127.0.0.1:\(tcpCycler.port) unit 1") }
        if let rtuBus { lines.append("cycler       modbus rtu \(rtuBus.path) -> \(rtuBus.devicePath)  (115200 8E1)") }
        return lines
    }

    public func stop() {
        analyzer?.stop()
        galvanostat?.stop()
        tcpCycler?.stop()
        rtuBus?.stop()
        memoryKeeper?.stop()
    }
}
