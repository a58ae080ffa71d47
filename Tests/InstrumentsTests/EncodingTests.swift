import Instruments
import Testing

@Suite("Line templates and register encoding")
struct EncodingTests {
    @Test("A command renders numbers in NR3 form")
    func render() throws {
        let t = try LineTemplate("SOUR:CURR {current}")
        #expect(try t.render(["current": .number(-1.5)]) == "SOUR:CURR -1.500000E+00")
        #expect(try LineTemplate("EIS:PPD {n:i}").render(["n": .integer(10)]) == "EIS:PPD 10")
    }

    @Test("A reply is parsed into typed fields")
    func parse() throws {
        let t = try LineTemplate("{sequence:i},{time},{voltage},{current},{temperature}")
        let v = try #require(t.parse("12,+3.500000E+01,+3.701000E+00,-1.000000E+00,+2.500000E+01"))
        #expect(v["sequence"] == .integer(12))
        #expect(v["voltage"] == .number(3.701))
        #expect(v["current"] == .number(-1))
    }

    @Test("Garbage bytes before a reply are skipped; a truncated reply does not parse")
    func garbage() throws {
        let t = try LineTemplate("{state:s},{done:i},{total:i}")
        let v = try #require(t.parse("\u{FF}\u{0}\u{13}\u{7F}!,RUNNING,3,41"))
        #expect(v["state"] == .word("RUNNING"))
        #expect(v["total"] == .integer(41))
        #expect(t.parse("RUNNING,3") == nil)
        let point = try LineTemplate("{index:i},{f},{re},{im}")
        #expect(point.parse("4,+1.0E+03,+2.5E-02,-1.") != nil)
        #expect(point.parse("4,+1.0E+03,+2.5E-02") == nil)
    }

    @Test("Malformed templates are refused with a reason")
    func badTemplates() {
        #expect(throws: TemplateError.self) { try LineTemplate("EIS:BIAS {bias") }
        #expect(throws: TemplateError.self) { try LineTemplate("{a}{b}") }
        #expect(throws: TemplateError.self) { try LineTemplate("{a:q}") }
    }

    // Reference values: IEEE-754 bit patterns. 3.7f = 0x406CCCCD; 3.7 (double) = 0x400D99999999999A.
    @Test("f32 and f64 decode in every word order")
    func decode() {
        let f32 = RegisterField(address: 0, type: .f32)
        #expect(Float(f32.decode([0x406C, 0xCCCD], base: 0)) == Float(3.7))
        let swapped = RegisterField(address: 0, type: .f32, wordOrder: .cdab)
        #expect(Float(swapped.decode([0xCCCD, 0x406C], base: 0)) == Float(3.7))
        let bytes = RegisterField(address: 0, type: .f32, wordOrder: .badc)
        #expect(Float(bytes.decode([0x6C40, 0xCDCC], base: 0)) == Float(3.7))
        let f64 = RegisterField(address: 1, type: .f64)
        #expect(f64.decode([0, 0x400D, 0x9999, 0x9999, 0x999A], base: 0) == 3.7)
        let u32 = RegisterField(address: 0, type: .u32)
        #expect(u32.decodeCounter([0x0001, 0x0002], base: 0) == 65538)
        let scaled = RegisterField(address: 0, type: .i16, scale: 0.001)
        #expect(abs(scaled.decode([0xFC18], base: 0) - -1.0) < 1e-12)
    }

    @Test("Encoding is the inverse of decoding", arguments: WordOrder.allCases)
    func roundTrip(order: WordOrder) throws {
        for type in [RegisterField.ValueType.f32, .f64, .u32, .i32, .u16, .i16] {
            let field = RegisterField(address: 0, type: type, wordOrder: order)
            let value = type == .u16 || type == .u32 ? 1234.0 : -1234.0
            #expect(field.decode(try field.encode(value), base: 0) == value)
        }
        #expect(throws: RegisterError.self) { try RegisterField(address: 0, type: .u16).encode(70000) }
    }
}
