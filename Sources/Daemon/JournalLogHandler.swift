#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// One line per message on stderr, friendly to journald: under systemd
/// (`JOURNAL_STREAM` set) each line starts with the syslog priority `<N>` so
/// the journal keeps levels; elsewhere a timestamp-free `level label:` prefix.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let underJournal: Bool
    private static let output = Mutex<Void>(())

    public init(label: String, level: Logger.Level, underJournal: Bool = getenv("JOURNAL_STREAM") != nil) {
        self.label = label
        self.logLevel = level
        self.underJournal = underJournal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        event.metadata?.forEach { merged[$0.key] = $0.value }
        let fields = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        // One line per event: newlines inside a message would split journal entries.
        let text = "\(event.message)".replacingNewlines()
        let prefix = underJournal ? "<\(Self.priority(event.level))>" : "\(event.level) "
        let line = "\(prefix)\(label): \(text)\(fields)\n"
        // One write(2) per line, serialised, so lines from concurrent tasks never interleave.
        Self.output.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 { break }
                offset += n
            }
        }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

extension String {
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
