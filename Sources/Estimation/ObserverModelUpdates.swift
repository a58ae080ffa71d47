import BenchCore
import Electrochem
import Fractional
import Synchronization

/// Cell models mapped from the bench's own impedance fits, waiting for the
/// channels' observers: the sweep analysis posts, the observer pipeline takes
/// them before its next samples (at most one waiting per channel: the newest).
public final class ObserverModelUpdates: Sendable {
    public struct Update: Sendable {
        public var model: CellModel
        /// Where the model comes from, for the event that announces it (e.g. `sweep #12`).
        public var origin: String
    }

    private let pending = Mutex<[ChannelID: Update]>([:])

    public init() {}

    /// Maps `fit` (through `ImpedanceFitParameters`) to a cell model with the capacity and
    /// OCV table of `base` (the channel's cell file) and queues it for the channel's observer.
    public func post(fit: FitResult, base: CellModel, channel: ChannelID, origin: String) throws(ImpedanceFitParameters.Failure) {
        let model = try ImpedanceFitParameters(fit: fit).cellModel(capacityAh: base.capacityAh, ocv: base.ocv)
        pending.withLock { $0[channel] = Update(model: model, origin: origin) }
    }

    /// The waiting updates, removed from the queue (empty, without allocating, when there are none).
    func takeAll() -> [ChannelID: Update] {
        pending.withLock { waiting in
            guard !waiting.isEmpty else { return [:] }
            defer { waiting = [:] }
            return waiting
        }
    }
}
