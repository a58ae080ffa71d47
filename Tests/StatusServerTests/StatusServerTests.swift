#if canImport(Glibc)
import Glibc
#endif
import BenchCore
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import StatusServer

@Suite(.timeLimit(.minutes(1))) struct StatusServerTests {
    @Test func helloThenStatusEchoesIdAndSnapshot() async throws {
        let provider = FixtureProvider()
        try await TestServer.run(provider: provider) { t in
            try await StatusClient.withConnection(socketPath: t.socketPath) { c in
                #expect(c.hello?.protocol == 1)
                #expect(c.hello?.server == "cellbenchd")
                #expect(c.hello?.streams == StreamKind.allCases)
                try await c.send(StatusRequest(op: "status", id: .string("q-1")))
                let reply = try await c.reply(to: .string("q-1"))
                guard case .status(let status) = reply.message else {
                    Issue.record("expected a status reply, got \(reply.text)")
                    return
                }
                #expect(status.snapshot == provider.snapshotValue)
                #expect(reply.text.contains(#""type":"status""#))
                #expect(reply.text.contains(#""id":"q-1""#))
            }
        }
    }

    @Test func subscriptionWithChannelFilterDeliversOnlyThatChannelInOrder() async throws {
        try await TestServer.run { t in
            try await StatusClient.withConnection(socketPath: t.socketPath) { c in
                try await c.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"], channels: ["B02"]))
                _ = try await c.reply(to: .number(1))
                for n in 0..<400 as Range<UInt64> {
                    t.streams.samples.push(sample(Int(n % 2), n))
                }
                var received: [SampleFields] = []
                while received.count < 200, let line = try await c.next() {
                    guard case .record(.sample(let s)) = line.message else {
                        Issue.record("unexpected line \(line.text)")
                        continue
                    }
                    received.append(s)
                }
                #expect(received.allSatisfy { $0.channel == "B02" })
                #expect(received.map(\.sequence) == Array(stride(from: 1, to: 400, by: 2)))
                #expect(received.first?.voltage == 3.0001)
                #expect(received.first?.current == -0.5)

                // While samples keep coming, nothing of the stream follows `unsubscribed`:
                // the next line is the status reply.
                let writing = Atomic<Bool>(true)
                let streams = t.streams
                Thread {
                    var n: UInt64 = 1000
                    while writing.load(ordering: .relaxed) {
                        streams.samples.push(sample(1, n))
                        n += 1
                        usleep(500)  // slow enough for the client to keep up on a loaded machine
                    }
                }.start()
                defer { writing.store(false, ordering: .relaxed) }
                try await c.send(StatusRequest(op: "unsubscribe", id: .number(2)))
                _ = try await c.reply(to: .number(2))
                try await c.send(StatusRequest(op: "status", id: .number(3)))
                let next = try await c.next()
                guard case .status(let reply)? = next?.message else {
                    Issue.record("expected the status reply, got \(next?.text ?? "end of stream")")
                    return
                }
                #expect(reply.id == .number(3))
            }
        }
    }

    @Test func overrunIsAnnouncedWithExactMissedCount() async throws {
        let streams = BenchStreams(sampleCapacity: 16)
        let total: UInt64 = 20_000
        try await TestServer.run(streams: streams) { t in
            try await StatusClient.withConnection(socketPath: t.socketPath) { c in
                try await c.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"]))
                _ = try await c.reply(to: .number(1))
                for n in 0..<total { streams.samples.push(sample(0, n)) }
                var seen: UInt64 = 0
                var missed: UInt64 = 0
                var last: UInt64?
                var overrunLines = 0
                while seen + missed < total, let line = try await c.next() {
                    switch line.message {
                    case .record(.sample(let s)):
                        #expect(last.map { s.sequence > $0 } ?? true, "sequence went backwards")
                        last = s.sequence
                        seen += 1
                    case .overrun(let o):
                        #expect(o.stream == .samples)
                        missed += o.missed
                        overrunLines += 1
                    default:
                        Issue.record("unexpected line \(line.text)")
                    }
                }
                // Every record is accounted for: delivered or announced as missed.
                #expect(seen + missed == total)
                #expect(last == total - 1)
                #expect(overrunLines > 0)
            }
        }
    }

    @Test func historyIsAnsweredFromTheProvider() async throws {
        var provider = FixtureProvider()
        provider.stored = (0..<10).map { .sample(sample($0 % 2, UInt64($0), wall: 1_763_700_000 + Double($0))) }
            + [.event(BenchEvent(channel: nil, time: Timestamp(monotonicNs: 0, wallNs: 1_763_700_005_000_000_000),
                                 severity: .warning, kind: "gap", message: "3 samples missing on A01"))]
        try await TestServer.run(provider: provider) { t in
            try await StatusClient.withConnection(socketPath: t.socketPath) { c in
                try await c.send(StatusRequest(op: "history", id: .number(5), stream: "samples", channel: "A01",
                                               from: 1_763_700_002, to: 1_763_700_008, limit: 2))
                let reply = try await c.reply(to: .number(5))
                guard case .history(let h) = reply.message else {
                    Issue.record("expected history, got \(reply.text)")
                    return
                }
                #expect(h.stream == .samples)
                let sequences = h.records.compactMap { r -> UInt64? in
                    if case .sample(let s) = r, s.channel == "A01" { return s.sequence }
                    return nil
                }
                #expect(sequences == [2, 4])

                try await c.send(StatusRequest(op: "history", id: .number(6), stream: "events"))
                guard case .history(let events) = try await c.reply(to: .number(6)).message,
                      case .event(let e)? = events.records.first else {
                    Issue.record("expected one event")
                    return
                }
                #expect(events.records.count == 1)
                #expect(e.channel == nil && e.kind == "gap" && e.severity == .warning)

                // A failing store is reported with its reason, on the request's id.
                try await c.send(StatusRequest(op: "history", id: .number(7), stream: "samples", channel: "Z99"))
                await #expect(throws: StatusClientError.self) { try await c.reply(to: .number(7)) }
            }
        }
    }

    @Test func malformedRequestsGetErrorsNamingTheProblem() async throws {
        try await TestServer.run { t in
            try await RawClient.with(.unix(t.socketPath)) { client in
            guard case .hello? = try await client.message() else {
                Issue.record("no hello")
                return
            }
            let cases: [(request: String, id: RequestID?, expected: String)] = [
                ("this is not json", nil, "invalid request: The given data was not valid JSON"),
                (#"{"op":"frobnicate","id":7}"#, .number(7), #"unknown op "frobnicate""#),
                (#"{"id":8}"#, .number(8), #"missing "op""#),
                (#"{"op":"history","id":9,"stream":"samples","limit":"many"}"#, .number(9), #"field "limit": expected an integer"#),
                (#"{"op":"history","id":10,"stream":"voltages"}"#, .number(10), #"unknown stream "voltages""#),
                (#"{"op":"history","id":11,"stream":"samples","limit":0}"#, .number(11), #""limit" must be between 1 and"#),
                (#"{"op":"history","id":12,"stream":"samples","from":5,"to":1}"#, .number(12), #""from" (5.0) is after "to""#),
                (#"{"op":"history","id":13,"stream":"samples","channel":"Z99"}"#, .number(13), "store unreadable: disk I/O error"),
                (#"{"op":"subscribe","id":14,"streams":["samples"],"channels":["NOPE"]}"#, .number(14), #"unknown channel "NOPE""#),
                (#"{"op":"subscribe","id":15}"#, .number(15), #"missing "streams""#),
                ("[1,2,3]", nil, "invalid request: expected a JSON object"),
            ]
            for (request, id, expected) in cases {
                try await client.send(request + "\n")
                guard case .error(let e)? = try await client.message() else {
                    Issue.record("no error line for \(request)")
                    continue
                }
                #expect(e.id == id, "id for \(request)")
                #expect(e.message.contains(expected), "\(e.message) should contain \(expected)")
            }
            // The connection still works after all that.
            try await client.send(#"{"op":"status","id":99}"# + "\n")
            guard case .status(let s)? = try await client.message() else {
                Issue.record("status after errors failed")
                return
            }
            #expect(s.id == .number(99))
            }
        }
    }

    @Test func oversizedLineIsRefusedAndDisconnectedWithoutDisturbingOthers() async throws {
        try await TestServer.run(configure: { $0.maxLineBytes = 1024 }) { t in
            try await RawClient.with(.unix(t.socketPath)) { hostile in
            _ = try await hostile.message()
            try await StatusClient.withConnection(socketPath: t.socketPath) { bystander in
                // No newline at all: the server must not keep buffering.
                try await hostile.send(String(repeating: "x", count: 4096))
                let rest = await hostile.readToEnd()
                #expect(rest.contains(#""type":"error""#))
                #expect(rest.contains("line longer than 1024 bytes"))
                try await bystander.send(StatusRequest(op: "status", id: .number(1)))
                guard case .status = try await bystander.reply(to: .number(1)).message else {
                    Issue.record("bystander got no status")
                    return
                }
            }
            }
        }
    }

    @Test func clientsBeyondTheLimitAreTurnedAway() async throws {
        try await TestServer.run(configure: { $0.maxClients = 2 }) { t in
            try await RawClient.with(.unix(t.socketPath)) { first in
                try await RawClient.with(.unix(t.socketPath)) { second in
                    guard case .hello? = try await first.message(), case .hello? = try await second.message() else {
                        Issue.record("first two clients not greeted")
                        return
                    }
                    let text = try await RawClient.with(.unix(t.socketPath)) { third in await third.readToEnd() }
                    #expect(text.contains("too many clients (limit 2)"))
                    #expect(!text.contains(#""type":"hello""#))
                    #expect(!text.contains(#""type":"dropped""#))
                    #expect(t.registry.emitToString().contains("cellbench_status_clients_refused_total 1"))
                }
            }
        }
    }

    @Test func socketFileModeStaleReplacementLiveRefusalAndRemoval() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/stale.sock"
        try makeStaleSocketFile(at: path)
        #expect(access(path, F_OK) == 0)

        for mode: mode_t in [0o660, 0o600] {
            var configuration = StatusServerConfiguration(socketPath: path)
            configuration.socketMode = mode
            let server = StatusServer(configuration: configuration, streams: BenchStreams(), provider: FixtureProvider(),
                                      registry: .init())
            try await server.start()
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == mode)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)

            // A second server must not steal the socket of a live one.
            let intruder = StatusServer(configuration: configuration, streams: BenchStreams(), provider: FixtureProvider(),
                                        registry: .init())
            await #expect(throws: StatusServerError.self) { try await intruder.start() }

            let farewell = try await RawClient.with(.unix(path)) { client in
                _ = try await client.message()
                await server.stop()
                return await client.readToEnd()
            }
            #expect(farewell.contains("server stopping"))
            #expect(access(path, F_OK) != 0, "socket file removed at stop")
        }
    }

    @Test func stuckClientIsDroppedWhileTheWriterKeepsItsRateAndOthersReceive() async throws {
        let pushes = 300_000
        // The ring holds every push, so the watcher cannot be overrun however the pumps are scheduled.
        let streams = BenchStreams(sampleCapacity: 1 << 19)
        try await TestServer.run(streams: streams, configure: { $0.maxQueuedBytes = 256 * 1024 }) { t in
            // Connects, subscribes to everything and never reads again.
            try await RawClient.with(.unix(t.socketPath)) { stuck in
            _ = try await stuck.message()
            try await stuck.send(#"{"op":"subscribe","id":1,"streams":["samples","events"]}"# + "\n")
            guard case .subscribed? = try await stuck.message() else {
                Issue.record("stuck client not subscribed")
                return
            }
            try await StatusClient.withConnection(socketPath: t.socketPath) { watcher in
                try await watcher.send(StatusRequest(op: "subscribe", id: .number(1), streams: ["samples"], channels: ["B02"]))
                _ = try await watcher.reply(to: .number(1))

                // Acquisition side: a dedicated thread pushing as fast as it can, every 1000th sample on B02.
                let elapsed = try await withTimeout(20, "writer") {
                    await withCheckedContinuation { (done: CheckedContinuation<Double, Never>) in
                        Thread {
                            let start = BenchClock.monotonicNs()
                            for n in 0..<pushes {
                                streams.samples.push(sample(n % 1000 == 0 ? 1 : 0, UInt64(n)))
                            }
                            done.resume(returning: Double(BenchClock.monotonicNs() - start) / 1e9)
                        }.start()
                    }
                }
                // 300 000 pushes take ~0.05 s alone; 5 s leaves room for a heavily loaded 2-core
                // machine. A writer that waited on the stuck client would never finish (timeout above).
                #expect(elapsed < 5, "writer took \(elapsed) s")

                var sequences: [UInt64] = []
                while sequences.count < pushes / 1000, let line = try await watcher.next() {
                    switch line.message {
                    case .record(.sample(let s)): sequences.append(s.sequence)
                    default:
                        Issue.record("watcher got \(line.text)")
                        return
                    }
                }
                #expect(sequences == Array(stride(from: 0, to: UInt64(pushes), by: 1000)))

                // The stuck client is cut off while it still does not read
                // (its subscription carries ~50 MB, far beyond its queue and socket buffers) ...
                let droppedCount = "cellbench_status_clients_dropped_total 1\n"
                for _ in 0..<400 where !t.registry.emitToString().contains(droppedCount) {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(t.registry.emitToString().contains(droppedCount))
                // ... and once it reads, its stream ends.
                let dropped = await stuck.readToEnd()
                #expect(!dropped.isEmpty)
            }
            }
        }
    }

    @Test func metricsEndpointServesPrometheusTextAndNotFoundElsewhere() async throws {
        try await TestServer.run(configure: { $0.metricsPort = 0 }) { t in
            let probe = t.registry.makeCounter(descriptor: .init(namespace: "cellbench", subsystem: "test", metricName: "probe", unitName: "total", helpText: "Counter registered by the test."))
            probe.increment(by: Int64(3))
            let port = try #require(t.server.metricsPort)

            let response = try await RawClient.with(.tcp(host: "127.0.0.1", port: port)) { client in
                try await client.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return await client.readToEnd()
            }
            #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(response.contains("Content-Type: text/plain; version=0.0.4"))
            #expect(response.contains("# TYPE cellbench_test_probe_total counter\n"))
            #expect(response.contains("\ncellbench_test_probe_total 3\n"))
            #expect(response.contains("cellbench_status_clients"))

            let notFound = try await RawClient.with(.tcp(host: "127.0.0.1", port: port)) { other in
                try await other.send("GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return await other.readToEnd()
            }
            #expect(notFound.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        }
    }

    @Test func stoppingClosesKeptAliveScrapeConnections() async throws {
        try await TestServer.run(configure: { $0.metricsPort = 0 }) { t in
            let port = try #require(t.server.metricsPort)
            let (headers, rest) = try await RawClient.with(.tcp(host: "127.0.0.1", port: port)) { client in
                // A scraper that keeps its connection open between scrapes.
                try await client.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
                var headers: [String] = []
                while let line = await client.line(), line != "\r" { headers.append(line) }
                let server = t.server
                Task { await server.stop() }
                // Returns only once the server closes the connection (the suite's time limit catches a hang).
                return (headers, await client.readToEnd())
            }
            #expect(headers.first == "HTTP/1.1 200 OK\r")
            #expect(!headers.contains { $0.lowercased().hasPrefix("connection: close") })
            #expect(rest.contains("cellbench_status_clients"))
        }
    }

    @Test func invalidSettingsAreRefusedByName() async throws {
        let settings: [(String, (inout StatusServerConfiguration) -> Void)] = [
            ("maxClients", { $0.maxClients = 0 }),
            ("maxQueuedBytes", { $0.maxQueuedBytes = -1 }),
            ("metricsPort", { $0.metricsPort = 70000 }),
            ("socketMode", { $0.socketMode = 0o4777 }),
        ]
        for (name, change) in settings {
            var configuration = StatusServerConfiguration(socketPath: "/nonexistent/never-bound.sock")
            change(&configuration)
            let server = StatusServer(configuration: configuration, streams: BenchStreams(), provider: FixtureProvider(),
                                      registry: .init())
            do {
                try await server.start()
                Issue.record("\(name) accepted")
            } catch {
                #expect("\(error)".contains(name))
            }
        }
    }

    @Test func metricsEndpointIsOffByDefault() async throws {
        try await TestServer.run { t in
            #expect(t.server.metricsPort == nil)
            #expect(t.server.configuration.metricsPort == nil)
        }
    }
}
