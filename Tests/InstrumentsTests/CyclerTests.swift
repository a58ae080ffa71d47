import BenchCore
import Instruments
import Simulator
import Testing

/// The cycler driver against the simulated reference cycler over real loopback TCP and pty RTU links.
@Suite("Cycler driver", .serialized)
struct CyclerTests {
    let map: CyclerMap

    init() throws {
        guard case .modbus(let map) = try DriverDefinition.load(path: Repository.driver("reference-cycler.toml")).body else {
            throw InstrumentError.configuration("reference cycler driver is not a Modbus driver")
        }
        self.map = map
    }

    static let limits = ProtectionLimits(voltageHigh: 4.3, voltageLow: 2.5, current: 5, temperature: 60)

    func channels(_ count: Int, interval: Double, watchdog: Int = 5) -> [CyclerChannelConfig] {
        (0..<count).map { CyclerChannelConfig(channel: ChannelID($0), index: $0, protection: Self.limits, recordInterval: interval, watchdog: watchdog) }
    }

    /// A bench with a driver and a committing reader running; `body` gets them.
    func withBench(_ endpoint: ModbusEndpoint, unit: Int = 1, channels: [CyclerChannelConfig], timing: ModbusTiming = ModbusTiming(responseTimeout: 0.3),
                   _ body: (CyclerDriver, BenchStreams) async throws -> Void) async throws -> [Sample] {
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        let bus = ModbusBus(endpoint: endpoint, timing: timing)
        let driver = CyclerDriver(name: "cycler", map: map, bus: bus, unit: unit, channels: channels, pollInterval: 0.05,
                                  backoff: Backoff(initial: 0.1, maximum: 0.5), logger: testLogger)
        let samples = try await withRunning(driver, streams: streams, watermarks: watermarks) { try await body(driver, streams) }
        await bus.shutdown()
        return samples
    }

    /// Sequence numbers of one channel, in arrival order.
    func sequences(_ samples: [Sample], _ channel: Int) -> [UInt64] {
        samples.filter { $0.channel == ChannelID(channel) }.map(\.sequence)
    }

    func expectContiguous(_ s: [UInt64], from first: UInt64 = 1) {
        #expect(s.first == first)
        #expect(s == Array(first..<first + UInt64(s.count)), "sequence numbers are not contiguous")
    }

    @Test("Records flow over Modbus TCP in order, setpoints act on the cell")
    func flow() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell(), VirtualCell()])
        defer { sim.stop() }
        let samples = try await withBench(.tcp(host: "127.0.0.1", port: sim.port), channels: channels(2, interval: 0.05)) { driver, streams in
            try await driver.apply(.constantCurrent(current: 1.5), channel: ChannelID(0))
            try await driver.apply(.rest, channel: ChannelID(1))
            try await expectEventually(5) { streams.samples.written >= 40 }
        }
        let ch0 = samples.filter { $0.channel == ChannelID(0) }
        expectContiguous(sequences(samples, 0))
        expectContiguous(sequences(samples, 1))
        // The virtual cell is charged at 1.5 A: the instrument reports it with the project's sign.
        #expect(ch0.dropFirst().allSatisfy { abs($0.current - 1.5) < 1e-6 })
        #expect(ch0.allSatisfy { $0.voltage > 3 && $0.voltage < 4.3 })
        let times = ch0.map(\.instrumentTime)
        #expect(zip(times, times.dropFirst()).allSatisfy { abs($1 - $0 - 0.05) < 1e-6 })
    }

    @Test("A 10 s network outage loses no record: sequence numbers stay contiguous")
    func outage() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        var lost = false, restored = false
        let samples = try await withBench(.tcp(host: "127.0.0.1", port: sim.port), channels: channels(1, interval: 0.05, watchdog: 30)) { driver, streams in
            try await driver.apply(.constantCurrent(current: -1), channel: ChannelID(0))
            try await Task.sleep(for: .milliseconds(500))
            sim.disconnect(for: 10)
            try await expectEventually(5) { driver.linkStatus().state == .down }
            lost = events(streams).contains { $0.kind == "link-lost" }
            try await expectEventually(15) { driver.linkStatus().state == .up }
            restored = events(streams).contains { $0.kind == "link-restored" }
            // 10.5 s at 20 records/s: about 210 records, caught up after the link returns.
            try await expectEventually(10) { streams.samples.written >= 220 }
            let gaps = events(streams).filter { $0.kind == "gap" }.map(\.message)
            #expect(gaps.isEmpty, "\(gaps)")
        }
        #expect(lost && restored)
        expectContiguous(sequences(samples, 0))
        #expect(samples.count >= 220)
    }

    @Test("After the daemon dies and restarts, reading resumes after the last committed record: nothing lost, no gap")
    func daemonRestart() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        let endpoint = ModbusEndpoint.tcp(host: "127.0.0.1", port: sim.port)
        let first = try await withBench(endpoint, channels: channels(1, interval: 0.05, watchdog: 30)) { driver, streams in
            try await driver.apply(.constantCurrent(current: 1), channel: ChannelID(0))
            try await expectEventually(5) { streams.samples.written >= 20 }
        }
        // The daemon was gone for a second; the store tells the new one where it stopped.
        try await Task.sleep(for: .seconds(1))
        let committed = try #require(first.last?.sequence)
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        watermarks.advance(ChannelID(0), to: committed)
        let bus = ModbusBus(endpoint: endpoint)
        let driver = CyclerDriver(name: "cycler", map: map, bus: bus, unit: 1, channels: channels(1, interval: 0.05, watchdog: 30),
                                  pollInterval: 0.05, logger: testLogger)
        let second = try await withRunning(driver, streams: streams, watermarks: watermarks) {
            try await expectEventually(5) { streams.samples.written >= 40 }
        }
        await bus.shutdown()
        #expect(second.first?.sequence == committed + 1)
        expectContiguous(first.map(\.sequence) + second.map(\.sequence))
        #expect(!events(streams).contains { $0.kind == "gap" })
    }

    @Test("An instrument power cycle is a gap event and sequence numbers stay unique and increasing")
    func powerCycle() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        let samples = try await withBench(.tcp(host: "127.0.0.1", port: sim.port), channels: channels(1, interval: 0.05)) { driver, streams in
            try await driver.apply(.constantCurrent(current: 1), channel: ChannelID(0))
            try await expectEventually(5) { streams.samples.written >= 10 }
            sim.powerCycle()
            try await expectEventually(5) { events(streams).contains { $0.kind == "gap" } }
            let before = streams.samples.written
            try await expectEventually(5) { streams.samples.written >= before + 10 }
        }
        let s = sequences(samples, 0)
        #expect(zip(s, s.dropFirst()).allSatisfy { $0 < $1 })
        // After the restart the high word counts one restart and the instrument's numbers begin at 1 again.
        let restarted = s.filter { $0 >> 32 == 1 }
        #expect(restarted.first == 1 << 32 | 1)
        // The driver put the channel back in constant current after the power cycle.
        #expect(samples.last.map { abs($0.current - 1) < 1e-6 } == true)
    }

    @Test("A buffer overflow on the instrument is reported as a gap with the count dropped")
    func overflow() async throws {
        // 100× time: the instrument takes 10 000 records per second, more than six per round trip can drain.
        let sim = try SimulatedCycler(cells: [VirtualCell()], timeScale: 100)
        defer { sim.stop() }
        _ = try await withBench(.tcp(host: "127.0.0.1", port: sim.port), channels: channels(1, interval: 0.01, watchdog: 0)) { driver, streams in
            try await driver.apply(.rest, channel: ChannelID(0))
            try await expectEventually(10) { events(streams).contains { $0.kind == "gap" && $0.message.contains("dropped") } }
        }
    }

    @Test("Busy replies (exception 06) are retried and cost nothing")
    func busy() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        sim.answerBusy(every: 3)
        let samples = try await withBench(.tcp(host: "127.0.0.1", port: sim.port), channels: channels(1, interval: 0.05)) { driver, streams in
            try await driver.apply(.constantCurrent(current: 1), channel: ChannelID(0))
            try await expectEventually(5) { streams.samples.written >= 20 }
            #expect(driver.linkStatus().lastError == nil)
        }
        expectContiguous(sequences(samples, 0))
    }

    @Test("A channel the instrument does not have keeps the link down with a clear error")
    func missingChannel() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        let streams = BenchStreams()
        let bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: sim.port))
        let config = [CyclerChannelConfig(channel: ChannelID(0), index: 3, protection: Self.limits)]
        let driver = CyclerDriver(name: "cycler", map: map, bus: bus, unit: 1, channels: config, backoff: Backoff(initial: 0.1, maximum: 0.2), logger: testLogger)
        let running = Task { try await driver.run(streams: streams, watermarks: CommitWatermarks()) }
        try await expectEventually(5) { driver.linkStatus().state == .down }
        #expect(driver.linkStatus().lastError?.contains("channel 3") == true)
        running.cancel()
        _ = try? await running.value
        await bus.shutdown()
    }

    @Test("A refused value (exception 03) is an error naming the register")
    func refusedValue() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        let bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: sim.port))
        // Record interval 0 s is outside 0.01...3600.
        await #expect(throws: TransportError.modbusException(code: 3, "tcp://127.0.0.1:\(sim.port) unit 1 write 1008+2: Illegal data value")) {
            try await bus.writeRegisters(unit: 1, address: 1008, values: [0, 0])
        }
        await #expect(throws: TransportError.self) { _ = try await bus.readRegisters(.input, unit: 1, address: 500, count: 2) }
        await bus.shutdown()
    }

    @Test("When the daemon stops talking, the instrument watchdog makes the cell safe")
    func watchdog() async throws {
        let sim = try SimulatedCycler(cells: [VirtualCell()])
        defer { sim.stop() }
        _ = try await withBench(.tcp(host: "127.0.0.1", port: sim.port), channels: channels(1, interval: 0.1, watchdog: 1)) { driver, _ in
            try await driver.apply(.constantCurrent(current: 1), channel: ChannelID(0))
            try await Task.sleep(for: .seconds(1.5))
            // Fed while the driver runs.
            #expect(try await state(sim) == (2, 0))
        }
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await state(sim) == (5, 5))
    }

    func state(_ sim: SimulatedCycler) async throws -> (Int, Int) {
        let bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: sim.port))
        defer { Task { await bus.shutdown() } }
        let r = try await bus.readRegisters(.input, unit: 1, address: 1000, count: 2)
        return (Int(r[0]), Int(r[1]))
    }

    @Test("On a shared RS-485 bus a silent slave does not stall the others")
    func silentSlave() async throws {
        let bus = try SimulatedRTUBus(cyclers: [1: [VirtualCell()], 2: [VirtualCell()], 3: [VirtualCell()]])
        defer { bus.stop() }
        let endpoint = ModbusEndpoint.rtu(.path(bus.path), SerialSettings(parity: .even))
        let shared = ModbusBus(endpoint: endpoint, timing: ModbusTiming(responseTimeout: 0.1, byteTimeout: 0.02))
        let streams = BenchStreams()
        let watermarks = CommitWatermarks()
        let drivers = (1...3).map { unit in
            CyclerDriver(name: "cycler\(unit)", map: map, bus: shared, unit: unit,
                         channels: [CyclerChannelConfig(channel: ChannelID(unit), index: 0, protection: Self.limits, recordInterval: 0.1, watchdog: 30)],
                         pollInterval: 0.05, backoff: Backoff(initial: 0.2, maximum: 1), logger: testLogger)
        }
        let reader = CommittingReader(streams: streams, watermarks: watermarks)
        let reading = Task { await reader.run() }
        let running = drivers.map { d in Task { try await d.run(streams: streams, watermarks: watermarks) } }
        try await expectEventually(5) { drivers.allSatisfy { $0.linkStatus().state == .up } }
        for d in drivers { try await d.apply(.rest, channel: d.channels[0]) }
        bus.setSilent(unit: 2, true)
        try await expectEventually(3) { drivers[1].linkStatus().state == .down }
        let counted = { (unit: Int) in committedCount(watermarks, unit) }
        let start = (counted(1), counted(3))
        try await Task.sleep(for: .seconds(3))
        // 3 s at 10 records/s each: the two live slaves keep nearly their full rate.
        #expect(counted(1) - start.0 >= 25)
        #expect(counted(3) - start.1 >= 25)
        bus.setSilent(unit: 2, false)
        try await expectEventually(5) { drivers[1].linkStatus().state == .up }
        running.forEach { $0.cancel() }
        for task in running { _ = try? await task.value }
        reading.cancel()
        let samples = await reading.value
        for unit in 1...3 { expectContiguous(sequences(samples, unit)) }
        await shared.shutdown()
    }

    @Test("A reply with a bad CRC on Modbus RTU is a protocol-error event naming it; reading goes on without loss")
    func badCRC() async throws {
        let bus = try SimulatedRTUBus(cyclers: [1: [VirtualCell()]])
        defer { bus.stop() }
        let endpoint = ModbusEndpoint.rtu(.path(bus.path), SerialSettings(parity: .even))
        var errors: [BenchEvent] = []
        let samples = try await withBench(endpoint, channels: channels(1, interval: 0.1, watchdog: 30),
                                          timing: ModbusTiming(responseTimeout: 0.3, byteTimeout: 0.02)) { driver, streams in
            try await driver.apply(.rest, channel: ChannelID(0))
            try await expectEventually(5) { streams.samples.written >= 5 }
            bus.corruptReplies(2)
            try await expectEventually(5) { events(streams).filter { $0.kind == "protocol-error" }.count >= 2 }
            let before = streams.samples.written
            try await expectEventually(5) { streams.samples.written >= before + 10 }
            errors = events(streams).filter { $0.kind == "protocol-error" }
            // Two damaged replies in a row are within what the driver tolerates: the link stayed up.
            #expect(!events(streams).contains { $0.kind == "link-lost" })
            #expect(driver.linkStatus().state == .up)
        }
        #expect(errors.allSatisfy { $0.message.contains("CRC") && $0.message.contains("unit 1") }, "\(errors.map(\.message))")
        expectContiguous(sequences(samples, 0))
    }

    func committedCount(_ watermarks: CommitWatermarks, _ channel: Int) -> Int {
        Int(watermarks.committed(ChannelID(channel)) ?? 0)
    }
}
