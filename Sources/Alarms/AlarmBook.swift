import BenchCore

/// Why an acknowledgement was refused; the description is shown to the user.
public struct AcknowledgeError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The open alarms and their lifecycle: active → acknowledged → cleared.
///
/// One open alarm per rule and channel (or bench-wide subject): a condition that
/// holds again while its alarm is still open raises nothing new.
struct AlarmBook: Sendable {
    struct Key: Hashable, Sendable {
        var rule: String
        var channel: ChannelID?
        var subject: String
    }

    private(set) var open: [Key: Alarm] = [:]
    private(set) var nextID: Int64

    /// `initial`: alarms still active or acknowledged when the daemon last stopped.
    init(initial: [Alarm], nextID: Int64) {
        self.nextID = max(nextID, (initial.map(\.id).max() ?? 0) + 1)
        for alarm in initial where alarm.state != .cleared {
            open[Self.key(of: alarm)] = alarm
        }
    }

    /// Bench-wide alarms name their subject before the first colon of their message.
    static func key(of alarm: Alarm) -> Key {
        let subject = alarm.channel == nil ? String(alarm.message.prefix { $0 != ":" }) : ""
        return Key(rule: alarm.rule, channel: alarm.channel, subject: subject)
    }

    /// A new alarm, or nil when one is already open for the same rule and channel.
    mutating func raise(rule: AlarmRule, channel: ChannelID?, subject: String, message: String, at time: Timestamp) -> Alarm? {
        let key = Key(rule: rule.name, channel: channel, subject: subject)
        guard open[key] == nil else { return nil }
        let alarm = Alarm(id: nextID, channel: channel, rule: rule.name, severity: rule.severity, message: message, raised: time)
        nextID += 1
        open[key] = alarm
        return alarm
    }

    /// The cleared alarm, or nil when none was open.
    mutating func clear(_ key: Key, at time: Timestamp) -> Alarm? {
        guard var alarm = open.removeValue(forKey: key) else { return nil }
        alarm.state = .cleared
        alarm.cleared = time
        return alarm
    }

    mutating func acknowledge(id: Int64, by user: String, note: String, at time: Timestamp) throws(AcknowledgeError) -> Alarm {
        guard !user.isEmpty else { throw AcknowledgeError("an acknowledgement needs the name of who acknowledges") }
        guard let key = open.first(where: { $0.value.id == id })?.key, var alarm = open[key] else {
            throw AcknowledgeError("alarm \(id) is not open (it is cleared or does not exist)")
        }
        guard alarm.state == .active else {
            throw AcknowledgeError("alarm \(id) was already acknowledged by \(alarm.acknowledgedBy ?? "someone")")
        }
        alarm.state = .acknowledged
        alarm.acknowledgedBy = user
        alarm.acknowledgedAt = time
        alarm.note = note.isEmpty ? nil : note
        open[key] = alarm
        return alarm
    }
}

/// At most `limit` notifications per rule and channel per `window` seconds;
/// the ones held back are counted and reported with the next one let through.
struct NotificationLimiter: Sendable {
    let limit: Int
    let window: Double
    private var windows: [AlarmBook.Key: (start: Double, sent: Int, suppressed: Int)] = [:]

    init(limit: Int, window: Double) {
        self.limit = limit
        self.window = window
    }

    /// - Returns: nil when suppressed, else how many were suppressed since the last one sent.
    mutating func admit(_ key: AlarmBook.Key, at t: Double) -> Int? {
        var w = windows[key] ?? (start: t, sent: 0, suppressed: 0)
        if t - w.start >= window { w.start = t; w.sent = 0 }
        defer { windows[key] = w }
        guard w.sent < limit else {
            w.suppressed += 1
            suppressedTotal += 1
            return nil
        }
        w.sent += 1
        let suppressed = w.suppressed
        w.suppressed = 0
        return suppressed
    }

    /// Notifications held back since start, over every rule and channel.
    private(set) var suppressedTotal = 0
}
