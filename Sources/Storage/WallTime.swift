/// Wall-clock times as people type and read them: ISO 8601 (UTC or with an
/// offset) or Unix seconds, converted exactly to and from ns since the epoch.
public enum WallTime {
    /// Why a time argument was refused; names the argument and the text.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public let argument: String
        public let text: String
        public let reason: String
        public var description: String {
            "\(argument): '\(text)' is not a time: \(reason) (expected ISO 8601 such as 2026-03-01T12:00:00Z or 2026-03-01T13:00:00+01:00, a date such as 2026-03-01 (UTC), or Unix seconds such as 1772366400)"
        }
    }

    /// Parses `text` given for `argument` (used in the error message).
    /// Accepts Unix seconds (`1772366400`, `1772366400.25`), a date (`2026-03-01`, midnight UTC),
    /// or a date and time with `Z` or an offset (`2026-03-01T12:00:00.5Z`, `…+01:00`).
    /// A date and time without zone is refused: it would silently depend on the host's zone.
    public static func parse(_ text: String, argument: String) throws -> Int64 {
        var scanner = Scanner(Array(text.utf8))
        func fail(_ reason: String) -> ParseError { ParseError(argument: argument, text: text, reason: reason) }
        guard !scanner.atEnd else { throw fail("it is empty") }

        // Unix seconds: digits with an optional fraction, nothing else.
        if let seconds = scanner.unixSeconds() {
            guard let ns = seconds else { throw fail("out of range") }
            return ns
        }
        guard let year = scanner.number(digits: 4), scanner.take(UInt8(ascii: "-")),
              let month = scanner.number(digits: 2), scanner.take(UInt8(ascii: "-")),
              let day = scanner.number(digits: 2) else { throw fail("not a date of the form YYYY-MM-DD") }
        guard (1...12).contains(month), (1...daysInMonth(year, month)).contains(day) else {
            throw fail("no such date")
        }
        let days = daysFromCivil(year, month, day)
        if scanner.atEnd { return days * 86_400 * 1_000_000_000 }

        guard scanner.take(UInt8(ascii: "T")) || scanner.take(UInt8(ascii: " ")) else {
            throw fail("expected 'T' between date and time")
        }
        guard let hour = scanner.number(digits: 2), scanner.take(UInt8(ascii: ":")),
              let minute = scanner.number(digits: 2) else { throw fail("not a time of the form HH:MM[:SS[.fff]]") }
        var second: Int64 = 0
        var fractionNs: Int64 = 0
        if scanner.take(UInt8(ascii: ":")) {
            guard let s = scanner.number(digits: 2) else { throw fail("seconds must be two digits") }
            second = s
            if scanner.take(UInt8(ascii: ".")) {
                guard let f = scanner.fractionNs() else { throw fail("expected digits after '.'") }
                fractionNs = f
            }
        }
        guard hour < 24, minute < 60, second < 60 else { throw fail("hour, minute or second out of range") }
        guard let offset = scanner.zoneOffsetSeconds() else {
            throw fail("a date and time needs a zone: append Z for UTC or an offset such as +01:00")
        }
        guard scanner.atEnd else { throw fail("unexpected text after the time") }
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return seconds * 1_000_000_000 + fractionNs
    }

    /// `2026-03-01T12:00:00.250000Z`: UTC, microseconds.
    public static func iso8601(wallNs: Int64) -> String {
        let micros = floorDiv(wallNs, 1000)
        let seconds = floorDiv(micros, 1_000_000)
        let (days, secondOfDay) = (floorDiv(seconds, 86_400), seconds - floorDiv(seconds, 86_400) * 86_400)
        let (year, month, day) = civilFromDays(days)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(micros - seconds * 1_000_000, 6))Z"
    }

    static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Int(m - 1)]
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Byte-level reading of a time argument.
private struct Scanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Exactly `digits` decimal digits.
    mutating func number(digits: Int) -> Int64? {
        guard index + digits <= bytes.count else { return nil }
        var value: Int64 = 0
        for b in bytes[index..<index + digits] {
            guard isDigit(b) else { return nil }
            value = value * 10 + Int64(b - UInt8(ascii: "0"))
        }
        index += digits
        return value
    }

    /// Digits after a decimal point, as ns (digits beyond the ninth are dropped).
    mutating func fractionNs() -> Int64? {
        var value: Int64 = 0
        var count = 0
        while index < bytes.count, isDigit(bytes[index]) {
            if count < 9 { value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
            count += 1
            index += 1
        }
        guard count > 0 else { return nil }
        for _ in min(count, 9)..<9 { value *= 10 }
        return value
    }

    /// When the whole text is `[-]digits[.digits]`: .some(ns), or .some(nil) when out of range.
    /// nil when it is something else (a date), leaving the scanner untouched.
    mutating func unixSeconds() -> Int64?? {
        var probe = self
        let negative = probe.take(UInt8(ascii: "-"))
        var whole: Int64 = 0
        var digits = 0
        while probe.index < bytes.count, isDigit(bytes[probe.index]) {
            if digits < 12 { whole = whole * 10 + Int64(bytes[probe.index] - UInt8(ascii: "0")) }
            digits += 1
            probe.index += 1
        }
        guard digits > 0 else { return nil }
        var fraction: Int64 = 0
        if probe.take(UInt8(ascii: ".")) {
            guard let f = probe.fractionNs() else { return nil }
            fraction = f
        }
        guard probe.atEnd else { return nil }
        self = probe
        let (seconds, overflow) = whole.multipliedReportingOverflow(by: 1_000_000_000)
        let (ns, carry) = seconds.addingReportingOverflow(fraction)
        guard digits < 12, !overflow, !carry else { return .some(nil) }
        return .some(negative ? -ns : ns)
    }

    /// `Z`, `±HH:MM` or `±HHMM`, as seconds east of UTC; nil when absent or malformed.
    mutating func zoneOffsetSeconds() -> Int64? {
        if take(UInt8(ascii: "Z")) || take(UInt8(ascii: "z")) { return 0 }
        let sign: Int64
        if take(UInt8(ascii: "+")) { sign = 1 } else if take(UInt8(ascii: "-")) { sign = -1 } else { return nil }
        guard let hours = number(digits: 2) else { return nil }
        _ = take(UInt8(ascii: ":"))
        guard let minutes = number(digits: 2), hours < 24, minutes < 60 else { return nil }
        return sign * (hours * 3600 + minutes * 60)
    }
}
