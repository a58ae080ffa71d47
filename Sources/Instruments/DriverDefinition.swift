import TOMLConfig


/// The kinds of instrument the drivers know how to run.
public enum InstrumentKind: String, Sendable, CaseIterable {
    case analyzer, galvanostat, cycler
}

/// An instrument model described by a `drivers/*.toml` file.
///
/// Supporting another model whose commands are spelled differently, or
/// whose registers sit elsewhere, takes a new file, not new code.
public struct DriverDefinition: Equatable, Sendable {
    public enum Body: Equatable, Sendable {
        case line(LineProtocolDefinition)
        case modbus(CyclerMap)
    }
    public var name: String
    public var kind: InstrumentKind
    public var file: String
    public var body: Body

    /// Reads and checks a driver file. Errors name the file, line and reason.
    public static func load(path: String) throws -> DriverDefinition {
        try parse(ConfigDocument(contentsOf: path))
    }

    public static func parse(_ text: String, file: String) throws -> DriverDefinition {
        try parse(ConfigDocument(text: text, file: file))
    }

    static func parse(_ document: ConfigDocument) throws -> DriverDefinition {
        let root = document.root
        try root.rejectUnknownKeys(["driver", "link", "commands", "words", "modbus", "device", "channel"])
        let driver = try root.table("driver")
        try driver.rejectUnknownKeys(["name", "kind", "protocol"])
        let name = try driver.string("name")
        let kindName = try driver.string("kind")
        guard let kind = InstrumentKind(rawValue: kindName) else {
            throw driver.error("kind", "unknown kind '\(kindName)' (expected analyzer, galvanostat or cycler)")
        }
        let protocolName = try driver.string("protocol")
        let body: Body
        switch (kind, protocolName) {
        case (.cycler, "modbus"):
            body = .modbus(try CyclerMap.parse(root))
        case (.analyzer, "line"):
            body = .line(try LineProtocolDefinition.parse(root, requirement: AnalyzerDriver.requirement))
        case (.galvanostat, "line"):
            body = .line(try LineProtocolDefinition.parse(root, requirement: GalvanostatDriver.requirement))
        default:
            throw driver.error("protocol", "a \(kind.rawValue) driver needs protocol \"\(kind == .cycler ? "modbus" : "line")\", not \"\(protocolName)\"")
        }
        return DriverDefinition(name: name, kind: kind, file: document.file, body: body)
    }
}

