import Dispatch
import Synchronization

/// Runs `StoreReader` queries from async code without blocking the Swift
/// concurrency pool: each query runs on a serial dispatch queue of its own
/// (a thread outside the pool) and the caller awaits its result.
public final class StoreQueries: Sendable {
    public let path: String
    private let queue: DispatchQueue
    private let reader: Mutex<StoreReader>

    /// Opens the store like `StoreReader.init(path:)`. Blocks while opening: call it at start-up.
    public init(path: String) throws {
        self.path = path
        queue = DispatchQueue(label: "cellbench-store-queries")
        reader = Mutex(try StoreReader(path: path))
    }

    /// Runs `query` against the reader on the query queue.
    public func run<T: Sendable>(_ query: @escaping @Sendable (StoreReader) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.reader.withLock { try query($0) } })
            }
        }
    }
}
