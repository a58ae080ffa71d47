import Foundation
import NIOCore

/// JSON text of protocol lines, shared by server and client.
public enum LineEncoding {
    /// Non-finite numbers that slipped past `finite(_:)` travel as strings rather than failing the line.
    private static let nonFinite = (positive: "inf", negative: "-inf", nan: "nan")

    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positive, negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positive, negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        return decoder
    }

    /// One line of JSON text for `value`, without the newline.
    public static func line(_ value: some Encodable) throws -> String {
        String(decoding: try makeEncoder().encode(value), as: UTF8.self)
    }

    /// Appends `message` and a newline to `buffer`.
    static func append(_ message: ServerMessage, to buffer: inout ByteBuffer) {
        do {
            buffer.writeBytes(try makeEncoder().encode(message))
        } catch {
            // Unreachable for the message types above; say so rather than send nothing.
            buffer.writeString(#"{"type":"error","message":"server could not encode a line"}"#)
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// A decoding error in words, naming the offending field.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : "field \"\(keys.joined(separator: "."))\": "
        }
        switch error {
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return "expected a JSON object"
        case .typeMismatch(let type, let context):
            return "\(path(context))expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context))expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context))missing \"\(key.stringValue)\""
        case .dataCorrupted(let context):
            return "\(path(context))\(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: "an integer"
        case is Double.Type: "a number"
        case is [String].Type: "an array of strings"
        default: "\(type)"
        }
    }
}
