import Foundation
import Instruments
import TOMLConfig
import Testing

@Suite("Driver files")
struct DriverFileTests {
    @Test("The three shipped driver files load", arguments: [
        ("reference-cycler.toml", InstrumentKind.cycler),
        ("reference-fra.toml", InstrumentKind.analyzer),
        ("reference-dc.toml", InstrumentKind.galvanostat),
    ])
    func shippedFilesLoad(file: String, kind: InstrumentKind) throws {
        let definition = try DriverDefinition.load(path: Repository.driver(file))
        #expect(definition.kind == kind)
    }

    @Test("The cycler file maps the reference registers")
    func cyclerSpan() throws {
        let definition = try DriverDefinition.load(path: Repository.driver("reference-cycler.toml"))
        guard case .modbus(let map) = definition.body else { Issue.record("not a Modbus driver"); return }
        #expect(map.windowRecords == 6)
        #expect(map.inputBase == 1000 && map.channelStride == 200)
        #expect(map.holding["acknowledge"]?.address == 20)
    }

    func expectError(_ text: String, line: Int, containing fragment: String) {
        do {
            _ = try DriverDefinition.parse(text, file: "bad.toml")
            Issue.record("accepted a bad driver file")
        } catch let error as ConfigError {
            #expect(error.file == "bad.toml")
            #expect(error.line == line, "\(error)")
            #expect("\(error)".contains(fragment), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("A syntax error names file, line and column")
    func syntaxError() {
        expectError("[driver]\nname = \"x\"\nkind = \n", line: 3, containing: "column")
    }

    @Test("A missing command names the commands table and the command")
    func missingCommand() throws {
        var text = try fraText()
        text = text.replacingOccurrences(of: "abort = { send = \"EIS:ABOR\" }\n", with: "")
        expectError(text, line: lineOf("[commands]", in: text), containing: "abort")
    }

    @Test("An unknown field in a command is rejected at its line")
    func unknownField() throws {
        let text = try fraText().replacingOccurrences(of: "EIS:BIAS {bias}", with: "EIS:BIAS {offset}")
        expectError(text, line: lineOf("set_bias =", in: text), containing: "unknown field {offset}")
    }

    @Test("A reply without a field the driver reads is rejected")
    func replyMissingField() throws {
        let text = try fraText().replacingOccurrences(of: "{state:s},{done:i},{total:i}", with: "{state:s},{done:i}")
        expectError(text, line: lineOf("status =", in: text), containing: "{total}")
    }

    @Test("A register of an unknown type is rejected at its line")
    func badRegisterType() throws {
        let text = try cyclerText().replacingOccurrences(of: "trip = { address = 1, type = \"u16\" }", with: "trip = { address = 1, type = \"u12\" }")
        expectError(text, line: lineOf("trip = { address = 1", in: text), containing: "u12")
    }

    @Test("A window that overflows the read limit is rejected")
    func windowTooLarge() throws {
        let text = try cyclerText().replacingOccurrences(of: "records = 6\n", with: "records = 11\n")
        expectError(text, line: lineOf("records = 11", in: text), containing: "records")
    }

    @Test("A model with its registers elsewhere needs only a new file")
    func relocatedRegisters() throws {
        let text = try cyclerText()
            .replacingOccurrences(of: "input_base = 1000", with: "input_base = 3000")
            .replacingOccurrences(of: "word_order = \"ABCD\"", with: "word_order = \"CDAB\"")
        let definition = try DriverDefinition.parse(text, file: "other.toml")
        guard case .modbus(let map) = definition.body else { Issue.record("not a Modbus driver"); return }
        #expect(map.inputBase == 3000)
        #expect(map.record["voltage"]?.wordOrder == .cdab)
    }

    func fraText() throws -> String { try String(contentsOfFile: Repository.driver("reference-fra.toml"), encoding: .utf8) }
    func cyclerText() throws -> String { try String(contentsOfFile: Repository.driver("reference-cycler.toml"), encoding: .utf8) }
    func lineOf(_ fragment: String, in text: String) -> Int {
        (text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(fragment) } ?? -1) + 1
    }
}
