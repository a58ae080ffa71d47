/// An alarm raised on a channel (or bench-wide) and its lifecycle:
/// active → acknowledged → cleared.
public struct Alarm: Hashable, Sendable, Codable {
    public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
        case warning, alarm, critical
        private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }
    public enum State: String, Sendable, Codable { case active, acknowledged, cleared }

    /// Store-assigned identifier (0 before it is stored).
    public var id: Int64
    public var channel: ChannelID?
    /// Name of the rule that raised it.
    public var rule: String
    public var severity: Severity
    public var state: State
    public var message: String
    public var raised: Timestamp
    public var acknowledgedBy: String?
    public var acknowledgedAt: Timestamp?
    public var note: String?
    public var cleared: Timestamp?

    public init(id: Int64 = 0, channel: ChannelID?, rule: String, severity: Severity, state: State = .active,
                message: String, raised: Timestamp, acknowledgedBy: String? = nil, acknowledgedAt: Timestamp? = nil,
                note: String? = nil, cleared: Timestamp? = nil) {
        self.id = id
        self.channel = channel
        self.rule = rule
        self.severity = severity
        self.state = state
        self.message = message
        self.raised = raised
        self.acknowledgedBy = acknowledgedBy
        self.acknowledgedAt = acknowledgedAt
        self.note = note
        self.cleared = cleared
    }
}
