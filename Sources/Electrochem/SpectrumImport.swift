import Numerics

/// A spectrum file that could not be read, naming the file, and the line and column where known.
public struct SpectrumImportError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var reason: String

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return "\(place): \(reason)"
    }
}

/// A spectrum read from a file, with the format it was recognised as.
public struct SpectrumFile: Sendable, Hashable {
    public enum Format: String, Sendable, Codable, CaseIterable {
        /// `frequency_hz,z_real_ohm,z_imag_ohm`, or three numeric columns without a header.
        case csv
        /// BioLogic EC-Lab ASCII export (`.mpt`).
        case biologic
        /// Gamry Framework `.DTA` (ZCURVE table).
        case gamry
        /// Scribner ZPlot/ZView `.z`.
        case zplot
    }

    public var format: Format
    public var spectrum: Spectrum
    /// Set when the file records an aborted sweep: what happened and on which line. The points
    /// measured before the abort are kept and are valid.
    public var partial: String?
}

/// Reads impedance spectra from the formats of `SpectrumFile.Format`, recognised by content.
public enum SpectrumImporter {
    /// `name` is used in error messages only.
    public static func read(bytes: [UInt8], name: String) throws(SpectrumImportError) -> SpectrumFile {
        let lines = Lines(decoding: bytes)
        let first = lines.text.first { !$0.trimmingWhitespace().isEmpty }?.trimmingWhitespace() ?? ""
        let reader = Reader(file: name, lines: lines.text)
        if first.hasPrefix("EC-Lab ASCII FILE") { return try reader.biologic() }
        if lines.text.contains(where: { $0.hasPrefix("ZCURVE") }) { return try reader.gamry() }
        if first.hasPrefix("ZPLOT") || first.hasPrefix("\"ZPlot") { return try reader.zplot() }
        return try reader.csv()
    }

    /// Text split into lines (LF, CR or CRLF), UTF-8 or else Latin-1, without a byte-order mark.
    private struct Lines {
        let text: [String]
        init(decoding bytes: [UInt8]) {
            var string = String(validating: bytes, as: UTF8.self)
                ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
            if string.hasPrefix("\u{FEFF}") { string.removeFirst() }
            text = string.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }.map(String.init)
        }
    }

    private struct Reader {
        let file: String
        let lines: [String]

        func error(_ reason: String, line: Int? = nil, column: Int? = nil) -> SpectrumImportError {
            SpectrumImportError(file: file, line: line, column: column, reason: reason)
        }

        /// Fields of a line split on tabs, commas or runs of spaces; trailing empty fields dropped.
        func fields(_ line: String) -> [String] {
            let separator: Character = line.contains("\t") ? "\t" : (line.contains(",") ? "," : " ")
            var parts = line.split(separator: separator, omittingEmptySubsequences: separator == " ")
                .map { $0.trimmingWhitespace() }
            while parts.last?.isEmpty == true { parts.removeLast() }
            return parts
        }

        func number(_ text: String, line: Int, column: Int) throws(SpectrumImportError) -> Double {
            guard let value = Double(text), value.isFinite else {
                throw error("'\(text)' is not a number", line: line, column: column)
            }
            return value
        }

        /// Reads rows `range` (0-based line indices) taking frequency, real and imaginary parts
        /// from the given columns; stops at the first line `isEnd` accepts.
        func rows(_ range: Range<Int>, frequency: Int, real: Int, imag: Int, imagSign: Double = 1,
                  expectedFields: Int? = nil, isEnd: (String) -> Bool = { _ in false }) throws(SpectrumImportError) -> (spectrum: Spectrum, end: Int) {
            var f: [Double] = [], z: [Complex<Double>] = []
            var index = range.lowerBound
            while index < range.upperBound {
                let text = lines[index]
                if isEnd(text) { break }
                let lineNumber = index + 1
                index += 1
                if text.trimmingWhitespace().isEmpty || text.hasPrefix("#") { continue }
                let parts = fields(text)
                if let expectedFields, parts.count != expectedFields {
                    throw error("\(parts.count) fields where the header names \(expectedFields)", line: lineNumber)
                }
                let needed = max(frequency, real, imag) + 1
                guard parts.count >= needed else {
                    throw error("\(parts.count) fields, expected at least \(needed)", line: lineNumber)
                }
                let freq = try number(parts[frequency], line: lineNumber, column: frequency + 1)
                guard freq > 0 else { throw error("frequency \(freq) Hz is not positive", line: lineNumber, column: frequency + 1) }
                f.append(freq)
                z.append(Complex(try number(parts[real], line: lineNumber, column: real + 1),
                                 imagSign * (try number(parts[imag], line: lineNumber, column: imag + 1))))
            }
            guard !f.isEmpty else { throw error("no data rows") }
            return (Spectrum(frequencies: f, impedance: z), index)
        }

        func column(_ name: String, in header: [String], line: Int) throws(SpectrumImportError) -> Int {
            guard let index = header.firstIndex(of: name) else {
                throw error("column '\(name)' not found in the header", line: line)
            }
            return index
        }

        func csv() throws(SpectrumImportError) -> SpectrumFile {
            guard let headerIndex = lines.firstIndex(where: { !$0.trimmingWhitespace().isEmpty && !$0.hasPrefix("#") }) else {
                throw error("no data rows")
            }
            let header = fields(lines[headerIndex])
            if header.count >= 3, header.prefix(3).allSatisfy({ Double($0) != nil }) {
                let read = try rows(headerIndex..<lines.count, frequency: 0, real: 1, imag: 2)
                return SpectrumFile(format: .csv, spectrum: read.spectrum)
            }
            let read = try rows((headerIndex + 1)..<lines.count,
                                frequency: try column("frequency_hz", in: header, line: headerIndex + 1),
                                real: try column("z_real_ohm", in: header, line: headerIndex + 1),
                                imag: try column("z_imag_ohm", in: header, line: headerIndex + 1),
                                expectedFields: header.count)
            return SpectrumFile(format: .csv, spectrum: read.spectrum)
        }

        /// EC-Lab: line 2 gives the number of header lines; the last of them names the
        /// tab-separated columns. EC-Lab stores −Im(Z).
        func biologic() throws(SpectrumImportError) -> SpectrumFile {
            guard lines.count > 1, let declared = lines[1].split(separator: ":").last,
                  let count = Int(String(declared).trimmingWhitespace()),
                  count >= 2, count <= lines.count else {
                throw error("expected 'Nb header lines : N' with a valid N", line: 2)
            }
            let header = fields(lines[count - 1])
            let read = try rows(count..<lines.count,
                                frequency: try column("freq/Hz", in: header, line: count),
                                real: try column("Re(Z)/Ohm", in: header, line: count),
                                imag: try column("-Im(Z)/Ohm", in: header, line: count),
                                imagSign: -1, expectedFields: header.count)
            return SpectrumFile(format: .biologic, spectrum: read.spectrum)
        }

        /// Gamry: `ZCURVE TABLE`, a line of column names, a line of units, then tab-indented rows.
        /// `EXPERIMENTABORTED` after the table marks an aborted sweep.
        func gamry() throws(SpectrumImportError) -> SpectrumFile {
            guard let table = lines.firstIndex(where: { $0.hasPrefix("ZCURVE") }), table + 2 < lines.count else {
                throw error("ZCURVE table without its header lines")
            }
            let header = fields(lines[table + 1])
            let read = try rows((table + 3)..<lines.count,
                                frequency: try column("Freq", in: header, line: table + 2),
                                real: try column("Zreal", in: header, line: table + 2),
                                imag: try column("Zimag", in: header, line: table + 2),
                                expectedFields: header.count,
                                isEnd: { !$0.hasPrefix("\t") && !$0.hasPrefix(" ") })
            let aborted = lines[read.end...].firstIndex { $0.hasPrefix("EXPERIMENTABORTED") }
            let partial = aborted.map { "sweep aborted (EXPERIMENTABORTED at line \($0 + 1)) after \(read.spectrum.count) points" }
            return SpectrumFile(format: .gamry, spectrum: read.spectrum, partial: partial)
        }

        /// ZPlot: data after `End Comments`, or after the quoted column-title line in files
        /// without comments; columns frequency, amplitude, bias, time, Z', Z''.
        func zplot() throws(SpectrumImportError) -> SpectrumFile {
            guard let start = lines.firstIndex(where: { $0.hasPrefix("End Comments") })
                    ?? lines.firstIndex(where: { $0.contains("Freq(Hz)") }) else {
                throw error("neither 'End Comments' nor a 'Freq(Hz)' column title found")
            }
            let read = try rows((start + 1)..<lines.count, frequency: 0, real: 4, imag: 5)
            return SpectrumFile(format: .zplot, spectrum: read.spectrum)
        }
    }
}
