import Synchronization

/// Fixed-capacity ring buffer with one writer and any number of readers, each
/// reading at its own pace through its own `RingCursor`.
///
/// - The writer never waits for readers: when a reader falls more than
///   `capacity` records behind, the oldest records are overwritten and that
///   reader is told exactly how many it missed on its next read.
/// - Storage is allocated once; `push` does not allocate.
/// - Readers can `await` new data instead of polling.
///
/// A mutex (not a lock-free seqlock) guards the slots so that elements holding
/// references (a `Sweep` with its points) are never read torn.
public final class RingBuffer<Element: Sendable>: Sendable {
    public let capacity: Int

    private struct State: ~Copyable {
        var slots: [Element?]
        /// Sequence number of the next record to be written (= records written so far).
        var head: UInt64 = 0
        var closed = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state: Mutex<State>

    public init(capacity: Int) {
        precondition(capacity > 0, "ring buffer capacity must be positive")
        self.capacity = capacity
        state = Mutex(State(slots: Array(repeating: nil, count: capacity)))
    }

    /// Appends one record. Never blocks on readers, never allocates.
    public func push(_ element: Element) {
        let woken = state.withLock { s -> [UInt64: CheckedContinuation<Void, Never>]? in
            s.slots[Int(s.head % UInt64(capacity))] = element
            s.head &+= 1
            guard !s.waiters.isEmpty else { return nil }
            defer { s.waiters = [:] }
            return s.waiters
        }
        // Resumed outside the lock: resuming takes the task's own lock, which a
        // concurrent cancellation holds while its handler waits for this one.
        woken?.values.forEach { $0.resume() }
    }

    /// Records written since creation.
    public var written: UInt64 { state.withLock { $0.head } }

    /// A cursor at the oldest record still held, or at the next record to be written.
    public func makeCursor(at position: RingCursor.Start = .next) -> RingCursor {
        state.withLock { s in
            switch position {
            case .next: return RingCursor(position: s.head)
            case .oldest: return RingCursor(position: s.head > UInt64(capacity) ? s.head - UInt64(capacity) : 0)
            }
        }
    }

    /// Copies up to `maximum` records after `cursor` into `buffer` (replacing its
    /// contents, keeping its capacity) and advances the cursor.
    /// - Returns: how many records this reader missed because they were overwritten
    ///   before it read them (0 when it kept up).
    @discardableResult
    public func read(_ cursor: inout RingCursor, into buffer: inout [Element], maximum: Int = .max) -> UInt64 {
        buffer.removeAll(keepingCapacity: true)
        return state.withLock { s in
            var missed: UInt64 = 0
            let oldest = s.head > UInt64(capacity) ? s.head - UInt64(capacity) : 0
            if cursor.position < oldest {
                missed = oldest - cursor.position
                cursor.position = oldest
            }
            let available = s.head - cursor.position
            let count = Int(min(available, UInt64(max(0, maximum))))
            for i in 0..<count {
                if let element = s.slots[Int((cursor.position + UInt64(i)) % UInt64(capacity))] {
                    buffer.append(element)
                }
            }
            cursor.position += UInt64(count)
            cursor.missed += missed
            return missed
        }
    }

    /// Whether records are waiting after `cursor`.
    public func hasData(after cursor: RingCursor) -> Bool {
        state.withLock { $0.head > cursor.position }
    }

    /// Suspends until a record after `cursor` exists, the ring is closed, or the task is cancelled.
    public func waitForData(after cursor: RingCursor) async {
        let id: UInt64 = state.withLock { s in
            s.nextWaiterID &+= 1
            return s.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.head > cursor.position || s.closed || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.waiters.removeValue(forKey: id) }
            c?.resume()
        }
    }

    /// Marks the end of the stream: waiting readers wake up and `isClosed` turns true.
    /// Records already pushed stay readable.
    public func close() {
        let woken = state.withLock { s in
            s.closed = true
            defer { s.waiters = [:] }
            return s.waiters
        }
        woken.values.forEach { $0.resume() }
    }

    public var isClosed: Bool { state.withLock { $0.closed } }
}

/// A reader's position in a `RingBuffer`.
public struct RingCursor: Sendable, Hashable {
    public enum Start: Sendable { case oldest, next }
    /// Sequence number of the next record this reader will read.
    public internal(set) var position: UInt64
    /// Total records this reader has missed through overruns.
    public internal(set) var missed: UInt64 = 0

    public init(position: UInt64) { self.position = position }
}
