#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        guard let text = readTextFile(path) else {
            throw ConfigurationError(file: path, line: 0, key: "", reason: "cannot read driver file: \(String(cString: strerror(errno)))")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> DriverDefinition {
        let root = try TOMLSection.parse(text, file: file)
        try root.rejectUnknownKeys(["driver", "link", "commands", "words", "modbus", "device", "channel"])
        let driver = try root.section("driver")
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
        return DriverDefinition(name: name, kind: kind, file: file, body: body)
    }
}

/// Whole file as UTF-8 text, or nil (errno set) when it cannot be read.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    guard ferror(file) == 0 else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}
