import Foundation

/// Reads a CSV fixture committed beside the tests (see Fixtures/ATTRIBUTION.md).
enum Fixture {
    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    /// Numeric rows of a CSV file, skipping `#` comments and the header line.
    static func rows(_ name: String) throws -> [[Double]] {
        let text = try String(contentsOf: url(name), encoding: .utf8)
        var rows: [[Double]] = []
        var sawHeader = false
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            if !sawHeader { sawHeader = true; continue }
            rows.append(line.split(separator: ",").map { Double($0) ?? .nan })
        }
        return rows
    }
}
