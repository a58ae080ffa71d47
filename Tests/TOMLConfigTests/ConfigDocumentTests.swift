import Testing
@testable import TOMLConfig

@Suite struct ConfigDocumentTests {
    let text = """
        # bench
        [store]
        path = "state/bench.db"
        batch_rows = "many"

        [[instruments]]
        name = "cycler"
        kind = "simulator"

        [[instruments]]
        name = "fra"
        port = 7
        [instruments.serial]
        baud = 115200
        parity = "odd"

        [[channels]]
        name = "A01"
        limits = { v_high = 4.2 }
        """

    @Test func syntaxErrorNamesLineAndColumn() {
        #expect(throws: ConfigError.self) { try ConfigDocument(text: "a = 1\nb = = 2\n", file: "bad.toml") }
        do {
            _ = try ConfigDocument(text: "a = 1\nb = = 2\n", file: "bad.toml")
        } catch {
            #expect(error.file == "bad.toml")
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("bad.toml:2:"))
        }
    }

    @Test func wrongTypeNamesFileLineAndKey() throws {
        let doc = try ConfigDocument(text: text, file: "bench.toml")
        let store = try doc.root.table("store")
        #expect(try store.string("path") == "state/bench.db")
        do {
            _ = try store.optionalInt("batch_rows")
            Issue.record("expected a type error")
        } catch {
            #expect(error.line == 4)
            #expect(error.key == "store.batch_rows")
            #expect(error.description == "bench.toml:4: key 'store.batch_rows': expected an integer, found a string")
        }
    }

    @Test func arrayOfTablesEntriesAndNestedTablesAreLocated() throws {
        let doc = try ConfigDocument(text: text, file: "bench.toml")
        let instruments = try doc.root.tables("instruments")
        #expect(instruments.count == 2)
        #expect(throws: ConfigError.self) { try instruments[1].optionalString("port") }
        #expect(instruments[1].error("port", "x").line == 12)
        let serial = try #require(try instruments[1].optionalTable("serial"))
        let parity = serial.error("parity", "bad")
        #expect(parity.line == 15)
        #expect(parity.key == "instruments[1].serial.parity")
        // Missing key in a table points at the table header.
        #expect(instruments[0].error(nil, "missing").line == 6)
        // Inline table: its keys resolve to the line of the enclosing key.
        let channel = try doc.root.tables("channels")[0]
        let limits = try channel.table("limits")
        #expect(limits.error("v_high", "x").line == 19)
    }

    @Test func unknownKeysAndRangesAreRejected() throws {
        let doc = try ConfigDocument(text: text, file: "bench.toml")
        let serial = try doc.root.tables("instruments")[1].table("serial")
        #expect(throws: ConfigError.self) { try serial.rejectUnknownKeys(["baud"]) }
        #expect(throws: ConfigError.self) { try serial.int("baud", in: 1...9600) }
        #expect(try serial.int("baud", in: 1...1_000_000) == 115200)
        #expect(throws: ConfigError.self) { try serial.choice("parity", ["none": 0, "even": 1]) }
        #expect(try doc.root.table("store").resolvePath("x.db") == "x.db")
    }

    @Test func relativePathsResolveAgainstTheFileFolder() throws {
        let doc = try ConfigDocument(text: "ocv = \"ocv.csv\"", file: "cells/a/cell.toml")
        #expect(doc.root.resolvePath(try doc.root.string("ocv")) == "cells/a/ocv.csv")
        #expect(doc.root.resolvePath("/abs/x") == "/abs/x")
    }
}
