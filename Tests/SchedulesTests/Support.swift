import Foundation
@testable import Schedules

/// The position through JSON text, as the daemon stores it.
enum JSONRoundTrip {
    static func encode(_ position: SchedulePosition) throws -> Data { try JSONEncoder().encode(position) }
    static func decode(_ data: Data) throws -> SchedulePosition { try JSONDecoder().decode(SchedulePosition.self, from: data) }
}
