#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOCore
import NIOPosix

/// Client side of the status protocol, for `cellbench status` and `cellbench tail`.
public enum StatusClient {
    /// Replies can be large (a `history` of many records); still refuse unbounded lines.
    public static let defaultMaxLineBytes = 64 * 1024 * 1024

    /// Connects to `socketPath`, reads the server's hello, runs `body`, and closes.
    public static func withConnection<Result: Sendable>(
        socketPath: String, maxLineBytes: Int = defaultMaxLineBytes,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (inout StatusConnection) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(NDJSONLineDecoder(maxLineBytes: maxLineBytes)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        } catch {
            let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw StatusClientError(description: "cannot connect to \(socketPath): \(reason) (is cellbenchd running?)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = StatusConnection(lines: inbound.makeAsyncIterator(), writer: outbound, socketPath: socketPath)
            try await connection.readHello()
            return try await body(&connection)
        }
    }
}

/// A failure on the client side, naming the socket and what went wrong.
public struct StatusClientError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// An open connection: send requests, read lines in order.
public struct StatusConnection {
    private var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let socketPath: String
    /// The server's greeting.
    public private(set) var hello: ServerMessage.Hello?

    init(lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
         writer: NIOAsyncChannelOutboundWriter<ByteBuffer>, socketPath: String) {
        self.lines = lines
        self.writer = writer
        self.socketPath = socketPath
    }

    /// A line as received, with its JSON text for callers that pass it through.
    public struct Line: Sendable {
        public var text: String
        public var message: ServerMessage
    }

    public func send(_ request: StatusRequest) async throws {
        var buffer = ByteBuffer(string: try LineEncoding.line(request))
        buffer.writeInteger(UInt8(ascii: "\n"))
        try await writer.write(buffer)
    }

    /// The next line from the server, or nil when it closed the connection.
    public mutating func next() async throws -> Line? {
        let raw: ByteBuffer?
        do {
            raw = try await lines.next()
        } catch {
            throw StatusClientError(description: "reading from \(socketPath): \(error)")
        }
        guard let raw else { return nil }
        let text = String(buffer: raw)
        do {
            return Line(text: text, message: try LineEncoding.makeDecoder().decode(ServerMessage.self, from: Data(text.utf8)))
        } catch {
            throw StatusClientError(description: "unreadable line from \(socketPath): \(LineEncoding.describe(error)): \(text.prefix(200))")
        }
    }

    /// Reads lines until the reply to request `id`, skipping stream records in between.
    public mutating func reply(to id: RequestID) async throws -> Line {
        while let line = try await next() {
            switch line.message {
            case .status(let r) where r.id == id: return line
            case .subscribed(let r) where r.id == id: return line
            case .unsubscribed(let r) where r.id == id: return line
            case .history(let r) where r.id == id: return line
            case .acknowledged(let r) where r.id == id: return line
            case .schedule(let r) where r.id == id: return line
            case .error(let r) where r.id == id || r.id == nil:
                throw StatusClientError(description: "server error: \(r.message)")
            case .dropped(let r):
                throw StatusClientError(description: "server closed the connection: \(r.reason)")
            default: continue
            }
        }
        throw StatusClientError(description: "\(socketPath) closed the connection before replying")
    }

    fileprivate mutating func readHello() async throws {
        guard let line = try await next() else {
            throw StatusClientError(description: "\(socketPath) closed the connection without a hello")
        }
        switch line.message {
        case .hello(let h) where h.protocol == statusProtocolVersion:
            hello = h
        case .hello(let h):
            throw StatusClientError(description: "\(socketPath) speaks protocol \(h.protocol); this client speaks \(statusProtocolVersion)")
        case .error(let e):
            throw StatusClientError(description: "\(socketPath) refused the connection: \(e.message)")
        default:
            throw StatusClientError(description: "\(socketPath) did not start with a hello: \(line.text.prefix(200))")
        }
    }
}
