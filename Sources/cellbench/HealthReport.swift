import BenchCore
import Estimation
import Storage

/// A channel's state of health recomputed from a store: its samples, in time
/// order, with the stored SOC and fit estimates interleaved by wall time, go
/// through a `HealthTracker` exactly as they would online.
struct HealthReport: Encodable {
    struct Capacity: Encodable {
        var wallNs: Int64
        var equivalentCycles: Double
        var capacityAh: Double
        var sigmaAh: Double
        var method: String
        /// Over a check-up (slow) cycle rather than the regular cycling.
        var checkup: Bool
    }
    struct StepSeries: Encodable {
        var quantity: String
        var first: Double
        var last: Double
        var count: Int
    }
    struct Model: Encodable {
        var q0: Double, a: Double, b: Double, residualSigma: Double
    }
    struct Forecast: Encodable {
        var model: Model?
        /// Remaining equivalent full cycles to 80 % of rated capacity, and the 90 % interval.
        var remaining: Double?
        var low: Double?
        var high: Double?
        /// Why there is no model, when there is none.
        var reason: String?
    }

    var channel: String
    var ratedCapacityAh: Double
    var equivalentCycles: Double
    var capacities: [Capacity]
    var stepResistances: [StepSeries]
    var sohR: Double?
    var forecast: Forecast

    init(reader: StoreReader, channel info: ChannelInfo, settings: HealthSettings) throws {
        var tracker = HealthTracker(channel: info.id, settings: settings)
        let inputs = try reader.estimates(channel: info.id).filter {
            $0.quantity == "soc" || $0.quantity == "soc_sigma" || $0.quantity.hasPrefix("fit.R")
        }
        var next = 0
        var steps: [String: StepSeries] = [:]
        var stepOrder: [String] = []
        var sohR: Double?
        func collect(_ e: Estimate) {
            if e.quantity.hasPrefix("r_dc_") {
                if steps[e.quantity] == nil { stepOrder.append(e.quantity) }
                steps[e.quantity, default: StepSeries(quantity: e.quantity, first: e.value, last: e.value, count: 0)].last = e.value
                steps[e.quantity]?.count += 1
            } else if e.quantity == "soh_r" {
                sohR = e.value
            }
        }
        try reader.forEachSample(channel: info.id) { sample in
            while next < inputs.count && inputs[next].time.wallNs <= sample.time.wallNs {
                tracker.consume(inputs[next], emit: collect)
                next += 1
            }
            tracker.consume(sample, emit: collect)
        }
        tracker.finish(emit: collect)

        channel = info.name
        ratedCapacityAh = settings.ratedCapacityAh
        equivalentCycles = tracker.equivalentCycles
        capacities = tracker.capacities.map {
            Capacity(wallNs: $0.time.wallNs, equivalentCycles: $0.equivalentCycles, capacityAh: $0.capacityAh,
                     sigmaAh: $0.sigmaAh, method: $0.method.rawValue, checkup: $0.checkup)
        }
        stepResistances = stepOrder.compactMap { steps[$0] }
        self.sohR = sohR
        switch tracker.forecast() {
        case .success(let f):
            forecast = Forecast(model: Model(q0: f.model.q0, a: f.model.a, b: f.model.b, residualSigma: f.model.residualSigma),
                                remaining: f.remaining, low: f.remainingLow, high: f.remainingHigh)
        case .failure(let failure):
            forecast = Forecast(reason: failure.description)
        }
    }
}
