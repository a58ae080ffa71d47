/// Named commands of a line-protocol driver file, sent over a serial line.
struct LineSession: Sendable {
    let definition: LineProtocolDefinition
    let line: SerialLine

    func send(_ name: String, _ values: [String: LineValue] = [:]) async throws {
        try await line.send(try definition.command(name, values).text)
    }

    func query(_ name: String, _ values: [String: LineValue] = [:]) async throws -> [String: LineValue] {
        let (text, reply) = try definition.command(name, values)
        guard let reply else { throw InstrumentError.configuration("command `\(name)` has no reply pattern") }
        return try await line.query(text, reply: reply, timeout: definition.replyTimeout, retries: definition.retries)
    }

    /// Pops the instrument's error queue; throws the first error found.
    func checkErrors(after what: String) async throws {
        for _ in 0..<8 {
            let reply = try await query("error")
            guard let code = reply["code"]?.integer, code != 0 else { return }
            throw InstrumentError.instrument("\(line.address): \(what): instrument error \(code) \(reply["text"]?.word ?? "")")
        }
    }

    func word(_ name: String) -> String { definition.word(name) }
}
