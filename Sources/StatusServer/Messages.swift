import BenchCore
import NIOCore

/// Version of the NDJSON protocol described in docs/status-protocol.md.
public let statusProtocolVersion = 1

/// A request id as the client sent it (number or string), echoed in the reply.
public enum RequestID: Sendable, Codable, Equatable, CustomStringConvertible {
    case number(Int64)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            throw DecodingError.typeMismatch(RequestID.self, .init(codingPath: decoder.codingPath,
                                                                   debugDescription: "expected an integer or a string"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .number(let n): String(n)
        case .string(let s): s
        }
    }
}

/// One request line from a client. Fields beyond `op` and `id` depend on the op;
/// the server validates them and answers with an error line naming what is wrong.
public struct StatusRequest: Sendable, Codable, Equatable {
    public var op: String?
    public var id: RequestID?
    /// `subscribe`, `unsubscribe`: stream names.
    public var streams: [String]?
    /// `subscribe`: channel names to keep (all channels when absent).
    public var channels: [String]?
    /// `history`: stream name, optional channel name, wall-time bounds (s), record limit.
    public var stream: String?
    public var channel: String?
    public var from: Double?
    public var to: Double?
    public var limit: Int?
    /// `ack`: alarm id, who acknowledges, and a note.
    public var alarm: Int64?
    public var by: String?
    public var note: String?
    /// `run`: the schedule file's text and its name (`channel` names the channel, as for `stop`, `pause`, `resume`).
    public var schedule: String?
    public var file: String?

    public init(op: String, id: RequestID? = nil, streams: [String]? = nil, channels: [String]? = nil,
                stream: String? = nil, channel: String? = nil, from: Double? = nil, to: Double? = nil, limit: Int? = nil,
                alarm: Int64? = nil, by: String? = nil, note: String? = nil, schedule: String? = nil, file: String? = nil) {
        self.op = op
        self.id = id
        self.streams = streams
        self.channels = channels
        self.stream = stream
        self.channel = channel
        self.from = from
        self.to = to
        self.limit = limit
        self.alarm = alarm
        self.by = by
        self.note = note
        self.schedule = schedule
        self.file = file
    }
}

/// Every line the server sends, tagged on the wire by its `type` field.
public enum ServerMessage: Sendable, Equatable {
    case hello(Hello)
    case status(StatusReply)
    case subscribed(StreamsReply)
    case unsubscribed(StreamsReply)
    case history(HistoryReply)
    case acknowledged(AcknowledgedReply)
    case schedule(ScheduleReply)
    case record(RecordLine)
    case overrun(Overrun)
    case error(ErrorReply)
    case dropped(Dropped)

    public struct Hello: Sendable, Codable, Equatable {
        public var `protocol`: Int
        public var server: String
        public var streams: [StreamKind]
        public var limits: Limits
    }

    public struct Limits: Sendable, Codable, Equatable {
        public var maxLineBytes: Int
        public var maxQueuedBytes: Int
        public var maxClients: Int
        public var maxHistoryRecords: Int
    }

    public struct StatusReply: Sendable, Codable, Equatable {
        public var id: RequestID?
        public var snapshot: StatusSnapshot
    }

    public struct StreamsReply: Sendable, Codable, Equatable {
        public var id: RequestID?
        public var streams: [StreamKind]
        /// Channel filter in force (nil: every channel).
        public var channels: [String]?
    }

    public struct HistoryReply: Sendable, Codable, Equatable {
        public var id: RequestID?
        public var stream: StreamKind
        public var records: [RecordLine]
    }

    public struct AcknowledgedReply: Sendable, Codable, Equatable {
        public var id: RequestID?
        /// The alarm in its acknowledged state.
        public var alarm: AlarmFields
    }

    public struct ScheduleReply: Sendable, Codable, Equatable {
        public var id: RequestID?
        public var channel: String
        /// The schedule in its state after the request.
        public var schedule: ScheduleStatus
    }

    public struct Overrun: Sendable, Codable, Equatable {
        public var stream: StreamKind
        /// Records this client will never see because the ring overwrote them first.
        public var missed: UInt64
    }

    public struct ErrorReply: Sendable, Codable, Equatable {
        public var id: RequestID?
        public var message: String
    }

    public struct Dropped: Sendable, Codable, Equatable {
        public var reason: String
    }
}

private enum TypeKey: String, CodingKey { case type }

extension ServerMessage: Codable {
    /// Writes `type` and the payload's fields side by side in one JSON object.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        switch self {
        case .hello(let p): try c.encode("hello", forKey: .type); try p.encode(to: encoder)
        case .status(let p): try c.encode("status", forKey: .type); try p.encode(to: encoder)
        case .subscribed(let p): try c.encode("subscribed", forKey: .type); try p.encode(to: encoder)
        case .unsubscribed(let p): try c.encode("unsubscribed", forKey: .type); try p.encode(to: encoder)
        case .history(let p): try c.encode("history", forKey: .type); try p.encode(to: encoder)
        case .acknowledged(let p): try c.encode("acknowledged", forKey: .type); try p.encode(to: encoder)
        case .schedule(let p): try c.encode("schedule", forKey: .type); try p.encode(to: encoder)
        case .record(let r): try r.encode(to: encoder)
        case .overrun(let p): try c.encode("overrun", forKey: .type); try p.encode(to: encoder)
        case .error(let p): try c.encode("error", forKey: .type); try p.encode(to: encoder)
        case .dropped(let p): try c.encode("dropped", forKey: .type); try p.encode(to: encoder)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: TypeKey.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try Hello(from: decoder))
        case "status": self = .status(try StatusReply(from: decoder))
        case "subscribed": self = .subscribed(try StreamsReply(from: decoder))
        case "unsubscribed": self = .unsubscribed(try StreamsReply(from: decoder))
        case "history": self = .history(try HistoryReply(from: decoder))
        case "acknowledged": self = .acknowledged(try AcknowledgedReply(from: decoder))
        case "schedule": self = .schedule(try ScheduleReply(from: decoder))
        case "overrun": self = .overrun(try Overrun(from: decoder))
        case "error": self = .error(try ErrorReply(from: decoder))
        case "dropped": self = .dropped(try Dropped(from: decoder))
        default: self = .record(try RecordLine(from: decoder))
        }
    }
}

/// A record of one stream as it appears on the wire (subscription lines and
/// history replies). Channels are named, NaN becomes null, units are SI.
public enum RecordLine: Sendable, Equatable {
    case sample(SampleFields)
    case sweep(SweepFields)
    case estimate(EstimateFields)
    case alarm(AlarmFields)
    case event(EventFields)

    public var stream: StreamKind {
        switch self {
        case .sample: .samples
        case .sweep: .sweeps
        case .estimate: .estimates
        case .alarm: .alarms
        case .event: .events
        }
    }
}

extension RecordLine: Codable {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        switch self {
        case .sample(let p): try c.encode("sample", forKey: .type); try p.encode(to: encoder)
        case .sweep(let p): try c.encode("sweep", forKey: .type); try p.encode(to: encoder)
        case .estimate(let p): try c.encode("estimate", forKey: .type); try p.encode(to: encoder)
        case .alarm(let p): try c.encode("alarm", forKey: .type); try p.encode(to: encoder)
        case .event(let p): try c.encode("event", forKey: .type); try p.encode(to: encoder)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: TypeKey.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "sample": self = .sample(try SampleFields(from: decoder))
        case "sweep": self = .sweep(try SweepFields(from: decoder))
        case "estimate": self = .estimate(try EstimateFields(from: decoder))
        case "alarm": self = .alarm(try AlarmFields(from: decoder))
        case "event": self = .event(try EventFields(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown line type \"\(type)\"")
        }
    }
}

/// JSON has no NaN: unknown values travel as null.
func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

public struct SampleFields: Sendable, Codable, Equatable {
    public var channel: String
    public var sequence: UInt64
    /// Wall time, s since the Unix epoch.
    public var time: Double
    /// Monotonic time, s.
    public var monotonic: Double
    /// Instrument time since its power-up, s.
    public var instrumentTime: Double?
    /// V
    public var voltage: Double?
    /// A, positive into the cell.
    public var current: Double?
    /// °C
    public var temperature: Double?
    /// Ah, positive into the cell.
    public var charge: Double?

    public init(_ s: Sample, channel: String) {
        self.channel = channel
        sequence = s.sequence
        time = s.time.wallSeconds
        monotonic = s.time.monotonicSeconds
        instrumentTime = finite(s.instrumentTime)
        voltage = finite(s.voltage)
        current = finite(s.current)
        temperature = finite(s.temperature)
        charge = finite(s.charge)
    }
}

public struct SweepFields: Sendable, Codable, Equatable {
    public struct Point: Sendable, Codable, Equatable {
        /// Hz
        public var frequency: Double
        /// Ω
        public var zReal: Double?
        /// Ω, negative for capacitive behaviour.
        public var zImag: Double?
        /// V
        public var dcVoltage: Double?
        /// A
        public var dcCurrent: Double?
    }
    public var channel: String
    public var sequence: UInt64
    public var started: Double
    public var finished: Double
    public var status: Sweep.Status
    public var settings: SweepSettings
    public var points: [Point]

    public init(_ s: Sweep, channel: String) {
        self.channel = channel
        sequence = s.sequence
        started = s.started.wallSeconds
        finished = s.finished.wallSeconds
        status = s.status
        settings = s.settings
        points = s.points.map {
            Point(frequency: $0.frequency, zReal: finite($0.zReal), zImag: finite($0.zImag),
                  dcVoltage: finite($0.dcVoltage), dcCurrent: finite($0.dcCurrent))
        }
    }
}

public struct EstimateFields: Sendable, Codable, Equatable {
    public var channel: String
    public var time: Double
    public var quantity: String
    public var value: Double?
    public var sigma: Double?
    public var source: String

    public init(_ e: Estimate, channel: String) {
        self.channel = channel
        time = e.time.wallSeconds
        quantity = e.quantity
        value = finite(e.value)
        sigma = finite(e.sigma)
        source = e.source
    }
}

public struct AlarmFields: Sendable, Codable, Equatable {
    public var alarmId: Int64
    /// nil for bench-wide alarms.
    public var channel: String?
    public var rule: String
    public var severity: Alarm.Severity
    public var state: Alarm.State
    public var message: String
    public var raised: Double
    public var acknowledgedBy: String?
    public var acknowledgedAt: Double?
    public var note: String?
    public var cleared: Double?

    public init(_ a: Alarm, channel: String?) {
        alarmId = a.id
        self.channel = channel
        rule = a.rule
        severity = a.severity
        state = a.state
        message = a.message
        raised = a.raised.wallSeconds
        acknowledgedBy = a.acknowledgedBy
        acknowledgedAt = a.acknowledgedAt?.wallSeconds
        note = a.note
        cleared = a.cleared?.wallSeconds
    }
}

public struct EventFields: Sendable, Codable, Equatable {
    /// nil for bench-wide events.
    public var channel: String?
    public var time: Double
    public var severity: BenchEvent.Severity
    public var kind: String
    public var message: String
    public var instrument: String?

    public init(_ e: BenchEvent, channel: String?) {
        self.channel = channel
        time = e.time.wallSeconds
        severity = e.severity
        kind = e.kind
        message = e.message
        instrument = e.instrument
    }
}

/// A record type carried by one of the bench streams.
protocol StreamRecord: Sendable {
    /// The channel concerned, nil for bench-wide records.
    var channelID: ChannelID? { get }
    func wireLine(_ names: ChannelNames) -> RecordLine
    /// Appends the record's line (with its newline) to `buffer`.
    func appendLine(to buffer: inout ByteBuffer, names: ChannelNames)
}

extension StreamRecord {
    func appendLine(to buffer: inout ByteBuffer, names: ChannelNames) {
        LineEncoding.append(.record(wireLine(names)), to: &buffer)
    }
}

extension Sample: StreamRecord {
    var channelID: ChannelID? { channel }
    func wireLine(_ names: ChannelNames) -> RecordLine { .sample(SampleFields(self, channel: names[channel])) }

    /// Samples are most of the traffic, so they are written directly rather
    /// than through `JSONEncoder`: the same JSON object (keys sorted, unknown
    /// values left out) that `SampleFields` encodes and decodes.
    func appendLine(to buffer: inout ByteBuffer, names: ChannelNames) {
        buffer.writeStaticString("{\"channel\":")
        JSONText.appendString(names[channel], to: &buffer)
        JSONText.appendNumber("charge", charge, to: &buffer)
        JSONText.appendNumber("current", current, to: &buffer)
        JSONText.appendNumber("instrumentTime", instrumentTime, to: &buffer)
        JSONText.appendNumber("monotonic", time.monotonicSeconds, to: &buffer)
        buffer.writeStaticString(",\"sequence\":")
        buffer.writeString(String(sequence))
        JSONText.appendNumber("temperature", temperature, to: &buffer)
        JSONText.appendNumber("time", time.wallSeconds, to: &buffer)
        buffer.writeStaticString(",\"type\":\"sample\"")
        JSONText.appendNumber("voltage", voltage, to: &buffer)
        buffer.writeStaticString("}\n")
    }
}

extension Sweep: StreamRecord {
    var channelID: ChannelID? { channel }
    func wireLine(_ names: ChannelNames) -> RecordLine { .sweep(SweepFields(self, channel: names[channel])) }
}

extension Estimate: StreamRecord {
    var channelID: ChannelID? { channel }
    func wireLine(_ names: ChannelNames) -> RecordLine { .estimate(EstimateFields(self, channel: names[channel])) }
}

extension Alarm: StreamRecord {
    var channelID: ChannelID? { channel }
    func wireLine(_ names: ChannelNames) -> RecordLine { .alarm(AlarmFields(self, channel: channel.map { names[$0] })) }
}

extension BenchEvent: StreamRecord {
    var channelID: ChannelID? { channel }
    func wireLine(_ names: ChannelNames) -> RecordLine { .event(EventFields(self, channel: channel.map { names[$0] })) }
}

extension HistoryRecord {
    var record: any StreamRecord {
        switch self {
        case .sample(let r): r
        case .sweep(let r): r
        case .estimate(let r): r
        case .alarm(let r): r
        case .event(let r): r
        }
    }
}

/// Channel id → name, with `#id` for a channel the configuration does not name.
struct ChannelNames: Sendable {
    private let names: [ChannelID: String]
    init(_ channels: [ChannelInfo]) {
        names = Dictionary(channels.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }
    subscript(id: ChannelID) -> String { names[id] ?? id.description }
}

/// Pieces of JSON text for the hand-written sample line.
enum JSONText {
    /// `"text"` with JSON escapes.
    static func appendString(_ text: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case 0x0A: buffer.writeStaticString("\\n")
            case 0x0D: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case ..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0x0F)])
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// `,"key":value`, or nothing when `value` is not finite (JSON has no NaN).
    static func appendNumber(_ key: StaticString, _ value: Double, to buffer: inout ByteBuffer) {
        guard value.isFinite else { return }
        buffer.writeStaticString(",\"")
        buffer.writeStaticString(key)
        buffer.writeStaticString("\":")
        // Swift prints the shortest text that reads back to the same Double, in JSON number syntax.
        buffer.writeString(value.description)
    }
}
