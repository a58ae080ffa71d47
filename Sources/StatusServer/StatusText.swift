#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Human-readable renderings of protocol messages for the command line.
public enum StatusText {
    /// The `cellbench status` report: header, channel, instrument and counter tables.
    public static func report(_ s: StatusSnapshot) -> String {
        var out = "cellbenchd up \(duration(s.uptime)); store lag \(s.storeLag.pendingRecords) records, "
            + "\(fixed(s.storeLag.seconds, 2)) s\n\n"
        let channelRows = s.channels.map { c -> [String] in
            let latest = c.latest
            return [c.name, c.instrument, c.state,
                    latest?.voltage.map { fixed($0, 4) } ?? "-",
                    latest?.current.map { fixed($0, 4) } ?? "-",
                    latest?.temperature.map { fixed($0, 1) } ?? "-",
                    c.soc.map { fixed($0 * 100, 1) + " %" } ?? "-",
                    latest.map { duration(max(0, s.time - $0.time)) } ?? "no data"]
        }
        out += table(["CHANNEL", "INSTRUMENT", "STATE", "V", "A", "°C", "SOC", "LAST SAMPLE AGE"], channelRows,
                     rightAligned: [3, 4, 5, 6, 7])
        out += "\n"
        let scheduleRows = s.channels.compactMap { c in
            c.schedule.map { [c.name, $0.name, $0.state, $0.step ?? "-", loops($0), $0.step == nil ? "-" : duration($0.stepSeconds)] }
        }
        if !scheduleRows.isEmpty {
            out += table(["CHANNEL", "SCHEDULE", "STATE", "STEP", "LOOPS", "STEP TIME"], scheduleRows, rightAligned: [5])
            out += "\n"
        }
        let instrumentRows = s.instruments.map { i -> [String] in
            let error = i.lastError.map { message in
                message + (i.lastErrorTime.map { " (\(duration(max(0, s.time - $0))) ago)" } ?? "")
            }
            return [i.name, i.link, error ?? "-"]
        }
        out += table(["INSTRUMENT", "LINK", "LAST ERROR"], instrumentRows, rightAligned: [])
        out += "\n"
        let counterRows = s.counters.sorted { $0.key < $1.key }.map { [$0.key, number($0.value)] }
        out += table(["COUNTER", "VALUE"], counterRows, rightAligned: [1])
        return out
    }

    /// One line for the schedule verbs: `C01: running, step "charge", cycle 2/100, 12 s in step`.
    public static func schedule(channel: String, _ s: ScheduleStatus) -> String {
        var parts = [s.state]
        if let step = s.step { parts.append("step \"\(step)\"") }
        if !s.loops.isEmpty { parts.append(loops(s)) }
        if s.step != nil { parts.append("\(duration(s.stepSeconds)) in step") }
        if let message = s.message { parts.append(message) }
        return "\(channel): \(s.name): " + parts.joined(separator: ", ")
    }

    /// Loop counters, outermost first: `cycle 2/100, pulses 1/2`.
    static func loops(_ s: ScheduleStatus) -> String {
        s.loops.isEmpty ? "-" : s.loops.map { "\($0.name) \($0.iteration)/\($0.count)" }.joined(separator: ", ")
    }

    /// One line per record for `cellbench tail`; nil for lines that are not part of a stream.
    public static func tailLine(_ message: ServerMessage) -> String? {
        switch message {
        case .record(.sample(let s)):
            return "\(timestamp(s.time)) sample   \(s.channel) #\(s.sequence) "
                + "\(s.voltage.map { fixed($0, 4) } ?? "-") V \(s.current.map { signed($0, 4) } ?? "-") A "
                + "\(s.temperature.map { fixed($0, 1) } ?? "-") °C \(s.charge.map { signed($0, 6) } ?? "-") Ah"
        case .record(.sweep(let s)):
            let band = s.points.isEmpty ? "" : " \(number(s.points[0].frequency))…\(number(s.points[s.points.count - 1].frequency)) Hz"
            return "\(timestamp(s.finished)) sweep    \(s.channel) #\(s.sequence) \(s.status.rawValue) "
                + "\(s.points.count) points\(band)"
        case .record(.estimate(let e)):
            let sigma = e.sigma.map { " ± \(number($0))" } ?? ""
            return "\(timestamp(e.time)) estimate \(e.channel) \(e.quantity) = \(e.value.map(number) ?? "-")\(sigma) (\(e.source))"
        case .record(.alarm(let a)):
            return "\(timestamp(a.raised)) alarm    \(a.channel ?? "bench") \(a.severity.rawValue) \(a.state.rawValue) "
                + "\(a.rule): \(a.message)"
        case .record(.event(let e)):
            return "\(timestamp(e.time)) event    \(e.channel ?? "bench") \(e.severity.rawValue) \(e.kind): \(e.message)"
        case .overrun(let o):
            return "!! overrun: \(o.missed) \(o.stream.rawValue) records missed (this client fell behind)"
        case .dropped(let d):
            return "!! disconnected by the server: \(d.reason)"
        case .error(let e):
            return "!! error: \(e.message)"
        case .hello, .status, .subscribed, .unsubscribed, .history, .acknowledged, .schedule:
            return nil
        }
    }

    /// Left/right aligned columns separated by two spaces.
    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int>) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                let pad = String(repeating: " ", count: widths[column] - row[column].count)
                return rightAligned.contains(column) ? pad + row[column] : row[column] + pad
            }
            .joined(separator: "  ")
            .replacing(/\s+$/, with: "")
        }
        .joined(separator: "\n") + "\n"
    }

    /// `2026-11-21T20:02:05.123Z` for wall seconds since the Unix epoch.
    static func timestamp(_ wallSeconds: Double) -> String {
        guard wallSeconds.isFinite, abs(wallSeconds) < 1e15 else { return "invalid time \(wallSeconds)" }
        // Nearest millisecond: 0.999 s is stored as 0.99899…, which truncation would print as .998.
        let totalMillis = Int64((wallSeconds * 1000).rounded())
        let (quotient, remainder) = totalMillis.quotientAndRemainder(dividingBy: 1000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        let millis = remainder < 0 ? remainder + 1000 : remainder
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(millis, 3))Z"
    }

    /// `0.4 s`, `12 s`, `3 min 05 s`, `2 h 07 min`, `4 d 03 h`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 10 { return fixed(seconds, 1) + " s" }
        let s = Int(seconds.rounded(.down))
        switch s {
        case ..<60: return "\(s) s"
        case ..<3600: return "\(s / 60) min \(pad(s % 60)) s"
        case ..<86_400: return "\(s / 3600) h \(pad(s / 60 % 60)) min"
        default: return "\(s / 86_400) d \(pad(s / 3600 % 24)) h"
        }
    }

    /// `x` with exactly `digits` decimals.
    static func fixed(_ x: Double, _ digits: Int) -> String {
        // Beyond this the integer arithmetic below would overflow; such values are garbage anyway.
        guard x.isFinite, abs(x) < 1e12 else { return "\(x)" }
        let scale = (0..<digits).reduce(1.0) { r, _ in r * 10 }
        let scaled = (abs(x) * scale).rounded()
        let whole = (scaled / scale).rounded(.down)
        let fraction = Int(scaled - whole * scale)
        let sign = x < 0 && scaled > 0 ? "-" : ""
        return digits == 0 ? "\(sign)\(Int(whole))" : "\(sign)\(Int(whole)).\(pad(fraction, digits))"
    }

    private static func signed(_ x: Double, _ digits: Int) -> String {
        (x >= 0 ? "+" : "") + fixed(x, digits)
    }

    /// Integers without a decimal point, other values as Swift prints them.
    private static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
    }

    private static func pad(_ n: some BinaryInteger, _ width: Int = 2) -> String {
        let text = String(n)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
