import Foundation

/// One dedicated OS thread that runs the blocking C calls of one port, in order.
///
/// libserialport, libmodbus and termios calls block; running them here keeps
/// them off the Swift cooperative pool. Async code hands a closure over with
/// `run` and is resumed with its result through a continuation.
public final class PortThread: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false

    public init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the port thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = enqueue { continuation.resume(with: Result { try body() }) }
            if !accepted { continuation.resume(throwing: TransportError.closed) }
        }
    }

    /// Lets queued jobs finish, then ends the thread. The owner must call it:
    /// the running thread keeps this object alive until then.
    public func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
