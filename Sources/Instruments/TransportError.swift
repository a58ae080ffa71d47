/// A failure of a link to an instrument, named so that a log line alone says what happened.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The port thread was stopped or the link is closed.
    case closed
    /// The device node or host could not be opened.
    case openFailed(String)
    /// No USB serial adapter matches the configured identity.
    case deviceNotFound(String)
    /// No complete reply arrived in time.
    case timeout(String)
    /// Reading or writing failed (device removed, connection reset).
    case io(String)
    /// Bytes arrived but do not form a valid reply.
    case garbled(String)
    /// The instrument answered with a Modbus exception.
    case modbusException(code: Int, String)

    public var description: String {
        switch self {
        case .closed: return "link closed"
        case .openFailed(let m): return "open failed: \(m)"
        case .deviceNotFound(let m): return "device not found: \(m)"
        case .timeout(let m): return "timeout: \(m)"
        case .io(let m): return "I/O error: \(m)"
        case .garbled(let m): return "garbled reply: \(m)"
        case .modbusException(let code, let m): return "Modbus exception \(code): \(m)"
        }
    }

    /// Event kind for the bench event stream.
    public var eventKind: String {
        switch self {
        case .garbled, .modbusException: return "protocol-error"
        default: return "link-lost"
        }
    }
}
