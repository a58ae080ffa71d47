import BenchCore
import Foundation
import NIOCore
import Synchronization

/// What every session shares: the rings, the provider, the limits and the metrics.
struct SessionContext: Sendable {
    let streams: BenchStreams
    let provider: any StatusProvider
    let limits: ServerMessage.Limits
    let metrics: StatusMetrics
}

/// One connected client: answers its requests in order and feeds its
/// subscriptions from the rings through its own cursors.
///
/// Everything the client is sent goes through a bounded outbox: bytes handed to
/// the socket but not yet written count against `maxQueuedBytes`, and a client
/// that lets it fill is sent `dropped` (best effort) and disconnected. Ring
/// writers never wait for any of this.
final class ClientSession: Sendable {
    private let channel: any Channel
    private let context: SessionContext
    private let outbox = Mutex(Outbox())
    private let subscriptions = Mutex<[StreamKind: Task<Void, Never>]>([:])
    private let requests: AsyncStream<ByteBuffer>
    private let requestInput: AsyncStream<ByteBuffer>.Continuation
    private let worker = Mutex<Task<Void, Never>?>(nil)

    /// Requests read but not yet answered before the client is cut off.
    static let maxPendingRequests = 64
    /// Records read from a ring per batch (one socket write per batch).
    static let batchSize = 256
    /// Records a `history` reply carries when the request names no `limit`.
    static let defaultHistoryLimit = 1000
    /// How long a dropped client gets to receive its `dropped` line.
    static let dropGrace = TimeAmount.seconds(1)

    private struct Outbox {
        var queuedBytes = 0
        var closed = false
    }

    init(channel: any Channel, context: SessionContext) {
        self.channel = channel
        self.context = context
        (requests, requestInput) = AsyncStream.makeStream(
            of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(Self.maxPendingRequests))
    }

    /// Greets the client and starts answering its requests.
    func start() {
        send(.hello(.init(protocol: statusProtocolVersion, server: "cellbenchd",
                          streams: StreamKind.allCases, limits: context.limits)))
        let task = Task { [self] in
            for await line in requests {
                await handle(line)
            }
            closeIfIdle()
        }
        worker.withLock { $0 = task }
    }

    /// A request line arrived (called on the event loop).
    func receive(_ line: ByteBuffer) {
        if case .dropped = requestInput.yield(line) {
            drop(reason: "more than \(Self.maxPendingRequests) requests waiting for an answer")
        }
    }

    /// The client has shut down its sending side (e.g. `socat` at end of input).
    func inputClosed() {
        requestInput.finish()
    }

    /// After the last request of a half-closed client: close once every reply is
    /// written, unless subscriptions are still streaming to it.
    private func closeIfIdle() {
        guard subscriptions.withLock({ $0.isEmpty }) else { return }
        let channel = self.channel
        // Writes complete in order: when this empty one is done, every reply before it is written.
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// The connection is gone: stop every task working for it.
    func closed() {
        outbox.withLock { $0.closed = true }
        requestInput.finish()
        worker.withLock { $0?.cancel() }
        let tasks = subscriptions.withLock { s in
            defer { s.removeAll() }
            return Array(s.values)
        }
        tasks.forEach { $0.cancel() }
    }

    // MARK: Sending

    /// Queues `message`; false when the client is gone or was just dropped.
    @discardableResult
    func send(_ message: ServerMessage) -> Bool {
        var buffer = channel.allocator.buffer(capacity: 256)
        LineEncoding.append(message, to: &buffer)
        return enqueue(buffer)
    }

    @discardableResult
    private func enqueue(_ buffer: ByteBuffer) -> Bool {
        let size = buffer.readableBytes
        let limit = context.limits.maxQueuedBytes
        enum Verdict { case accepted, gone, overflow }
        let verdict = outbox.withLock { o -> Verdict in
            if o.closed { return .gone }
            if o.queuedBytes + size > limit {
                o.closed = true
                return .overflow
            }
            o.queuedBytes += size
            return .accepted
        }
        switch verdict {
        case .gone:
            return false
        case .overflow:
            dropClosed(reason: "more than \(limit) bytes waiting to be sent: the client is not reading fast enough")
            return false
        case .accepted:
            channel.writeAndFlush(buffer).whenComplete { [self] _ in
                outbox.withLock { $0.queuedBytes -= size }
            }
            return true
        }
    }

    /// Tells the client why (best effort) and disconnects it.
    func drop(reason: String) {
        if markClosed() { dropClosed(reason: reason) }
    }

    /// Sends an error line and disconnects: for a byte stream that can no longer be trusted.
    func reject(_ message: String) {
        guard markClosed() else { return }
        context.metrics.clientsDropped.increment()
        sendFinalLineAndClose(.error(.init(id: nil, message: message)))
    }

    /// Turns away a connection the server will not serve (before its hello).
    func refuse(_ message: String) {
        if markClosed() { sendFinalLineAndClose(.error(.init(id: nil, message: message))) }
    }

    /// Completes once the connection is closed.
    var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Closes the outbox to further lines; false if it was already closed.
    private func markClosed() -> Bool {
        outbox.withLock { o in
            defer { o.closed = true }
            return !o.closed
        }
    }

    /// `drop` once the outbox is already closed.
    private func dropClosed(reason: String) {
        context.metrics.clientsDropped.increment()
        sendFinalLineAndClose(.dropped(.init(reason: reason)))
    }

    private func sendFinalLineAndClose(_ message: ServerMessage) {
        var buffer = channel.allocator.buffer(capacity: 128)
        LineEncoding.append(message, to: &buffer)
        let channel = self.channel
        // The line waits behind whatever is queued; a stuck client is closed after the grace period anyway.
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: Self.dropGrace) { channel.close(promise: nil) }
    }

    // MARK: Requests

    private func handle(_ line: ByteBuffer) async {
        guard line.readableBytes > 0 else { return }
        let request: StatusRequest
        do {
            request = try LineEncoding.makeDecoder().decode(StatusRequest.self, from: Data(line.readableBytesView))
        } catch {
            // Still echo the id when the rest of the request is what is wrong.
            let id = try? LineEncoding.makeDecoder().decode(RequestIDOnly.self, from: Data(line.readableBytesView)).id
            send(.error(.init(id: id, message: "invalid request: \(LineEncoding.describe(error))")))
            return
        }
        do {
            switch request.op {
            case "status":
                send(.status(.init(id: request.id, snapshot: await context.provider.snapshot())))
            case "subscribe":
                try await subscribe(request)
            case "unsubscribe":
                try await unsubscribe(request)
            case "history":
                try await history(request)
            case "ack":
                try await acknowledge(request)
            case "run", "stop", "pause", "resume":
                try await schedule(request)
            case nil:
                throw RequestError("missing \"op\"; expected one of \(Self.operations)")
            case let op?:
                throw RequestError("unknown op \"\(op)\"; expected one of \(Self.operations)")
            }
        } catch {
            send(.error(.init(id: request.id, message: "\(error)")))
        }
    }

    static let operations = "status, subscribe, unsubscribe, history, ack, run, stop, pause, resume"

    private func schedule(_ request: StatusRequest) async throws {
        let op = request.op ?? ""
        guard let name = request.channel else { throw RequestError("\(op): missing \"channel\"") }
        guard let channel = context.provider.channel(named: name) else { throw RequestError("\(op): unknown channel \"\(name)\"") }
        let scheduleRequest: ScheduleRequest
        switch op {
        case "run":
            guard let source = request.schedule else { throw RequestError("run: missing \"schedule\" (the schedule file's text)") }
            scheduleRequest = .run(channel: channel.id, file: request.file ?? "schedule.toml", source: source)
        case "stop": scheduleRequest = .stop(channel.id)
        case "pause": scheduleRequest = .pause(channel.id)
        default: scheduleRequest = .resume(channel.id)
        }
        let status: ScheduleStatus
        do {
            status = try await context.provider.schedule(scheduleRequest)
        } catch {
            throw RequestError("\(op): \(error)")
        }
        send(.schedule(.init(id: request.id, channel: name, schedule: status)))
    }

    private func acknowledge(_ request: StatusRequest) async throws {
        guard let id = request.alarm else { throw RequestError("ack: missing \"alarm\" (the alarm id)") }
        guard let user = request.by, !user.isEmpty else { throw RequestError("ack: missing \"by\" (who acknowledges)") }
        let alarm: Alarm
        do {
            alarm = try await context.provider.acknowledge(alarm: id, by: user, note: request.note ?? "")
        } catch {
            throw RequestError("ack: \(error)")
        }
        let names = ChannelNames(context.provider.channels())
        send(.acknowledged(.init(id: request.id, alarm: AlarmFields(alarm, channel: alarm.channel.map { names[$0] }))))
    }

    private func subscribe(_ request: StatusRequest) async throws {
        let kinds = try streamKinds(request.streams, op: "subscribe", defaultAll: false)
        let channels = context.provider.channels()
        var filter: Set<ChannelID>?
        if let names = request.channels {
            filter = Set(try names.map { name in
                guard let info = channels.first(where: { $0.name == name }) else {
                    throw RequestError("subscribe: unknown channel \"\(name)\"")
                }
                return info.id
            })
        }
        let names = ChannelNames(channels)
        await endSubscriptions(kinds)
        // Cursors are taken before the reply, so every record pushed after
        // `subscribed` is delivered.
        let pumps = kinds.map { kind in makePump(kind, filter: filter, names: names) }
        guard send(.subscribed(.init(id: request.id, streams: kinds, channels: request.channels))) else { return }
        for (kind, pump) in zip(kinds, pumps) {
            let task = Task { await pump() }
            subscriptions.withLock { $0[kind] = task }
        }
        // The connection may have closed while the tasks were being started.
        if outbox.withLock({ $0.closed }) { closed() }
    }

    private func unsubscribe(_ request: StatusRequest) async throws {
        let kinds = try streamKinds(request.streams, op: "unsubscribe", defaultAll: true)
        await endSubscriptions(kinds)
        send(.unsubscribed(.init(id: request.id, streams: kinds, channels: nil)))
    }

    /// Stops the pumps of `kinds` and waits until each has queued its last line,
    /// so that no record of theirs follows the reply that comes next.
    private func endSubscriptions(_ kinds: [StreamKind]) async {
        let tasks = subscriptions.withLock { s in kinds.compactMap { s.removeValue(forKey: $0) } }
        tasks.forEach { $0.cancel() }
        for task in tasks { await task.value }
    }

    private func history(_ request: StatusRequest) async throws {
        guard let streamName = request.stream else { throw RequestError("history: missing \"stream\"") }
        guard let stream = StreamKind(rawValue: streamName) else {
            throw RequestError("history: unknown stream \"\(streamName)\"; expected one of \(StreamKind.allNames)")
        }
        let channels = context.provider.channels()
        var channelID: ChannelID?
        if let name = request.channel {
            guard let info = channels.first(where: { $0.name == name }) else {
                throw RequestError("history: unknown channel \"\(name)\"")
            }
            channelID = info.id
        }
        let maxRecords = context.limits.maxHistoryRecords
        let limit = request.limit ?? min(Self.defaultHistoryLimit, maxRecords)
        guard (1...maxRecords).contains(limit) else {
            throw RequestError("history: \"limit\" must be between 1 and \(maxRecords), got \(limit)")
        }
        if let from = request.from, let to = request.to, from > to {
            throw RequestError("history: \"from\" (\(from)) is after \"to\" (\(to))")
        }
        let query = HistoryQuery(stream: stream, channel: channelID, from: request.from, to: request.to, limit: limit)
        let records: [HistoryRecord]
        do {
            records = try await context.provider.history(query)
        } catch {
            throw RequestError("history: \(error)")
        }
        let names = ChannelNames(channels)
        let reply = ServerMessage.history(.init(id: request.id, stream: stream,
                                                records: records.prefix(limit).map { $0.record.wireLine(names) }))
        var buffer = channel.allocator.buffer(capacity: 4096)
        LineEncoding.append(reply, to: &buffer)
        guard buffer.readableBytes <= context.limits.maxQueuedBytes else {
            throw RequestError("history: the reply (\(buffer.readableBytes) bytes) exceeds the per-client limit of "
                               + "\(context.limits.maxQueuedBytes) bytes; ask for fewer records with \"limit\"")
        }
        enqueue(buffer)
    }

    private func streamKinds(_ names: [String]?, op: String, defaultAll: Bool) throws -> [StreamKind] {
        guard let names, !names.isEmpty else {
            if defaultAll { return StreamKind.allCases }
            throw RequestError("\(op): missing \"streams\"; expected some of \(StreamKind.allNames)")
        }
        var kinds: [StreamKind] = []
        for name in names {
            guard let kind = StreamKind(rawValue: name) else {
                throw RequestError("\(op): unknown stream \"\(name)\"; expected some of \(StreamKind.allNames)")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return kinds
    }

    // MARK: Subscriptions

    private func makePump(_ kind: StreamKind, filter: Set<ChannelID>?, names: ChannelNames) -> @Sendable () async -> Void {
        let streams = context.streams
        switch kind {
        case .samples: return makePump(streams.samples, kind, filter, names)
        case .sweeps: return makePump(streams.sweeps, kind, filter, names)
        case .estimates: return makePump(streams.estimates, kind, filter, names)
        case .alarms: return makePump(streams.alarms, kind, filter, names)
        case .events: return makePump(streams.events, kind, filter, names)
        }
    }

    /// Reads `ring` from now on and sends each record that passes `filter`
    /// (bench-wide records always pass), announcing every overrun.
    private func makePump<R: StreamRecord>(_ ring: RingBuffer<R>, _ kind: StreamKind, _ filter: Set<ChannelID>?,
                                           _ names: ChannelNames) -> @Sendable () async -> Void {
        let start = ring.makeCursor(at: .next)
        return { [self] in
            var cursor = start
            var batch: [R] = []
            batch.reserveCapacity(Self.batchSize)
            while !Task.isCancelled {
                guard ring.hasData(after: cursor) else {
                    if ring.isClosed { return }
                    await ring.waitForData(after: cursor)
                    continue
                }
                let missed = ring.read(&cursor, into: &batch, maximum: Self.batchSize)
                var buffer = channel.allocator.buffer(capacity: 256 * batch.count + 64)
                if missed > 0 {
                    context.metrics.recordsOverrun.increment(by: Int64(clamping: missed))
                    LineEncoding.append(.overrun(.init(stream: kind, missed: missed)), to: &buffer)
                }
                for record in batch {
                    if let filter, let id = record.channelID, !filter.contains(id) { continue }
                    record.appendLine(to: &buffer, names: names)
                }
                if buffer.readableBytes > 0, !enqueue(buffer) { return }
            }
        }
    }
}

private struct RequestIDOnly: Decodable {
    var id: RequestID?
}

/// A request the server cannot honour; the description is sent to the client.
struct RequestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension StreamKind {
    static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
