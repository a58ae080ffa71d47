import NIOCore

/// A line exceeded the agreed maximum length.
public struct LineTooLongError: Error, CustomStringConvertible {
    public var limit: Int
    public var description: String { "line longer than \(limit) bytes" }
}

/// Splits an NDJSON byte stream into lines (without the `\n`, and without a
/// trailing `\r`). Refuses to buffer more than `maxLineBytes` of one line, so a
/// peer that never sends a newline cannot grow memory without bound.
struct NDJSONLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxLineBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maxLineBytes { throw LineTooLongError(limit: maxLineBytes) }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        if length > maxLineBytes { throw LineTooLongError(limit: maxLineBytes) }
        guard var line = buffer.readSlice(length: length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1) ?? line
        }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A final line without its newline is incomplete: discard it.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
