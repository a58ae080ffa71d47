extension StatusText {
    /// The alarm list of `cellbench alarms`: one row per alarm, newest first.
    public static func alarms(_ list: [AlarmFields]) -> String {
        guard !list.isEmpty else { return "no alarms\n" }
        let rows = list.sorted { ($0.raised, $0.alarmId) > ($1.raised, $1.alarmId) }.map { a in
            [String(a.alarmId), a.state.rawValue, a.severity.rawValue, a.channel ?? "-", a.rule, timestamp(a.raised),
             a.cleared.map(timestamp) ?? "-", a.acknowledgedBy.map { by in by + (a.note.map { ": " + $0 } ?? "") } ?? "-", a.message]
        }
        return table(["ID", "STATE", "SEVERITY", "CHANNEL", "RULE", "RAISED", "CLEARED", "ACKNOWLEDGED", "MESSAGE"], rows,
                     rightAligned: [0])
    }
}
