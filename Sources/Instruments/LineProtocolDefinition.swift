import TOMLConfig

/// One named command of a line-protocol driver: what to send and, for a
/// query, the shape of the reply.
public struct LineCommand: Equatable, Sendable {
    public var send: LineTemplate
    public var reply: LineTemplate?
}

/// The line-protocol half of a driver file: named commands and queries, the
/// instrument's words for modes and states, and link timing.
public struct LineProtocolDefinition: Equatable, Sendable {
    public var commands: [String: LineCommand]
    /// Instrument spelling of the driver's words (`running` → `RUNNING`).
    public var words: [String: String]
    /// How long a query may take before the link is suspect, s.
    public var replyTimeout: Double
    /// Extra attempts of a query after a timeout or a garbled reply.
    public var retries: Int

    /// What a driver of one kind needs from a file: the commands it sends with
    /// the fields it fills in, the queries with the reply fields it reads,
    /// and the words it uses.
    struct Requirement {
        var commands: [String: Set<String>]
        var queries: [String: (send: Set<String>, reply: Set<String>)]
        var words: [String]
    }

    static func parse(_ root: ConfigTable, requirement: Requirement) throws -> LineProtocolDefinition {
        let link = try root.optionalTable("link")
        try link?.rejectUnknownKeys(["reply_timeout", "retries"])
        let replyTimeout = try link?.double("reply_timeout", in: 0.01...60, default: 0.2) ?? 0.2
        let retries = try link?.int("retries", in: 0...10, default: 2) ?? 2

        let section = try root.table("commands")
        var commands: [String: LineCommand] = [:]
        for name in section.keys {
            let entry = try section.table(name)
            try entry.rejectUnknownKeys(["send", "reply"])
            let send = try template(entry, "send")
            let reply = try entry.contains("reply") ? template(entry, "reply") : nil
            commands[name] = LineCommand(send: send, reply: reply)
        }
        for (name, fields) in requirement.commands {
            let command = try required(name, in: commands, section)
            try check(command.send, provides: fields, section.error(name, ""))
        }
        for (name, fields) in requirement.queries {
            let command = try required(name, in: commands, section)
            try check(command.send, provides: fields.send, section.error(name, ""))
            guard let reply = command.reply else { throw section.error(name, "is a query: it needs a `reply` pattern") }
            let missing = fields.reply.subtracting(reply.fieldNames)
            if !missing.isEmpty {
                throw section.error(name, "its reply must contain the field(s) \(missing.sorted().map { "{\($0)}" }.joined(separator: ", "))")
            }
        }

        var words: [String: String] = [:]
        if let wordSection = try root.optionalTable("words") {
            for key in wordSection.keys { words[key] = try wordSection.string(key) }
        }
        for word in requirement.words where words[word] == nil {
            throw root.error("words", "missing the instrument's word for `\(word)`")
        }
        return LineProtocolDefinition(commands: commands, words: words, replyTimeout: replyTimeout, retries: retries)
    }

    private static func template(_ entry: ConfigTable, _ key: String) throws -> LineTemplate {
        let text = try entry.string(key)
        do { return try LineTemplate(text) } catch { throw entry.error(key, error.description) }
    }

    private static func required(_ name: String, in commands: [String: LineCommand], _ section: ConfigTable) throws -> LineCommand {
        guard let command = commands[name] else { throw section.error(name, "missing command `\(name)` required for this kind of instrument") }
        return command
    }

    /// A command may only use the fields the driver fills in.
    private static func check(_ template: LineTemplate, provides fields: Set<String>, _ place: ConfigError) throws {
        for field in template.fieldNames where !fields.contains(field) {
            var error = place
            error.key += ".send"
            error.message = fields.isEmpty
                ? "takes no fields, but uses {\(field)}"
                : "uses unknown field {\(field)} (available: \(fields.sorted().joined(separator: ", ")))"
            throw error
        }
    }

    /// Renders the named command with its values.
    func command(_ name: String, _ values: [String: LineValue] = [:]) throws -> (text: String, reply: LineTemplate?) {
        guard let command = commands[name] else { throw TransportError.garbled("driver has no command `\(name)`") }
        do { return (try command.send.render(values), command.reply) } catch {
            throw TransportError.garbled("command `\(name)`: \(error.description)")
        }
    }

    /// The instrument's spelling of a driver word.
    func word(_ name: String) -> String { words[name] ?? name }
}
