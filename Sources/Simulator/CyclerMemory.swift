import Foundation

/// What a simulated cycler keeps while the `cellbench simulate` process is
/// down: channel settings, cell states, record buffers, sequence numbers and
/// when its clock started. A real cycler keeps running and recording while
/// the PC is away (`cycler-modbus.md`); a simulator restarted from its memory
/// brings every channel up to the present on the first request, taking the
/// records that fell due meanwhile, so to a client the restart is a network
/// outage, not a power cycle.
public struct CyclerMemory: Codable, Sendable {
    var channels: [CyclerDevice.Channel]
    var timeScale: Double
    /// Unix time, s, at which the instrument's clock read zero (at time scale 1).
    var clockZeroUnix: Double

    /// Refuses a memory written for another channel count or time scale, naming `file`.
    func check(channels count: Int, timeScale: Double, file: String) throws(SimulatorError) {
        guard channels.count == count, self.timeScale == timeScale else {
            throw .system("\(file) holds a cycler of \(channels.count) channels at time scale \(self.timeScale), "
                          + "not \(count) at \(timeScale); remove the file to power the cycler up afresh")
        }
    }
}

/// The simulator's state file: the memory of the TCP cycler and of each RTU
/// slave, written atomically (a new file renamed over the old one).
struct CyclerMemoryFile: Codable, Sendable {
    var tcp: CyclerMemory?
    var rtu: [Int: CyclerMemory] = [:]

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        // Healthy cells have an infinite leakage resistance.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// The file at `path`, or an empty memory when there is none yet.
    static func load(path: String) throws(SimulatorError) -> CyclerMemoryFile {
        guard FileManager.default.fileExists(atPath: path) else { return CyclerMemoryFile() }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(CyclerMemoryFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .system("\(path): not a cycler state file (\(error)); remove it to power the cycler up afresh")
        }
    }

    func save(path: String) throws {
        let temporary = path + ".new"
        try Self.encoder().encode(self).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else { throw SimulatorError.system("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }
}

/// Writes the cyclers' memory to the state file once a second, so that even a
/// `kill -9` of the simulator loses at most the last second (records taken in
/// it are taken again, with the same sequence numbers, after the restart), and
/// once more when the simulator stops.
final class CyclerMemoryKeeper: @unchecked Sendable {
    private let path: String
    private let tcp: SimulatedCycler?
    private let rtu: SimulatedRTUBus?
    private let condition = NSCondition()
    private var stopping = false
    private var finished = false

    init(path: String, tcp: SimulatedCycler?, rtu: SimulatedRTUBus?) {
        self.path = path
        self.tcp = tcp
        self.rtu = rtu
        let thread = Thread { [self] in run() }
        thread.name = "simulated cycler memory"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
        save()
    }

    private func run() {
        condition.lock()
        while !stopping {
            condition.unlock()
            save()
            condition.lock()
            _ = condition.wait(until: Date().addingTimeInterval(1))
        }
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    private func save() {
        do {
            try CyclerMemoryFile(tcp: tcp?.memory(), rtu: rtu?.memories() ?? [:]).save(path: path)
        } catch {
            FileHandle.standardError.write(Data("cellbench simulate: cannot save the cycler state: \(error)\n".utf8))
        }
    }
}
