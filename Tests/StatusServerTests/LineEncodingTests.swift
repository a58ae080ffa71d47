import BenchCore
import Foundation
import NIOCore
import Testing
@testable import StatusServer

@Suite struct LineEncodingTests {
    /// The hand-written sample line must be the very object the Codable path produces.
    @Test func directSampleLineMatchesTheCodableEncoding() throws {
        let names = ChannelNames([
            ChannelInfo(id: ChannelID(0), name: "A01", instrument: "c", instrumentChannel: 0),
            ChannelInfo(id: ChannelID(1), name: "quote\" back\\ tab\t nl\n bell\u{07} é 電池", instrument: "c", instrumentChannel: 1),
        ])
        let values: [Double] = [0, -0.0, 3.7, -1.25, 4.2e-05, 1e-300, .leastNonzeroMagnitude, 1e16, -123456.789, .pi, .nan, .infinity, -.infinity]
        var samples: [Sample] = []
        for (i, v) in values.enumerated() {
            samples.append(Sample(channel: ChannelID(i % 3), sequence: UInt64(i) * 1_000_000_007,
                                  time: Timestamp(monotonicNs: Int64(i) * 123_456_789, wallNs: 1_763_700_000_123_456_789 + Int64(i)),
                                  instrumentTime: v, voltage: v, current: -v, temperature: v, charge: v))
        }
        samples.append(Sample(channel: ChannelID(0), sequence: .max, time: Timestamp(monotonicNs: 0, wallNs: 0), voltage: 1, current: 2))
        let decoder = LineEncoding.makeDecoder()
        for s in samples {
            var direct = ByteBuffer()
            s.appendLine(to: &direct, names: names)
            var viaCodable = ByteBuffer()
            LineEncoding.append(.record(s.wireLine(names)), to: &viaCodable)
            let directText = String(buffer: direct)
            #expect(directText.hasSuffix("}\n"))
            #expect(directText.dropLast().firstIndex(of: "\n") == nil, "one line: \(directText)")
            // Both parse as JSON objects with the same content.
            let a = try JSONSerialization.jsonObject(with: Data(directText.utf8)) as? NSDictionary
            let b = try JSONSerialization.jsonObject(with: Data(String(buffer: viaCodable).utf8)) as? NSDictionary
            #expect(a != nil && a == b, "\(directText) vs \(String(buffer: viaCodable))")
            let decoded = try decoder.decode(ServerMessage.self, from: Data(directText.utf8))
            #expect(decoded == .record(s.wireLine(names)))
        }
    }
}
