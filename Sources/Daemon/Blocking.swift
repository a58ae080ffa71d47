import Dispatch

/// Runs blocking work (SQLite reads, file I/O) on a Dispatch queue instead of
/// the Swift cooperative pool, and awaits its result.
struct BlockingQueue: Sendable {
    let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label) }

    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
