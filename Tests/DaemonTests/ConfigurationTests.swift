import Electrochem
import Testing
import Instruments
import TOMLConfig
@testable import Daemon

@Suite struct ConfigurationTests {
    static let valid = """
        [store]
        path = "state/bench.db"

        [status]
        socket = "state/bench.sock"
        metrics_port = 9464

        [[instruments]]
        name = "sim"
        kind = "simulator"

        [[channels]]
        name = "A01"
        instrument = "sim"
        index = 0
        capacity_ah = 3.0

        [[channels]]
        name = "A02"
        instrument = "sim"
        index = 1
        """

    private func load(_ text: String) throws -> BenchConfiguration {
        try BenchConfiguration(document: ConfigDocument(text: text, file: "/etc/cellbench/bench.toml"))
    }

    /// The error a configuration text produces.
    private func error(_ text: String) -> ConfigError? {
        do { _ = try load(text); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    @Test func validConfigurationResolvesPathsAndChannels() throws {
        let config = try load(Self.valid)
        #expect(config.store.path == "/etc/cellbench/state/bench.db")
        #expect(config.store.batchRows == 4096)
        #expect(config.store.batchInterval == .milliseconds(50))
        #expect(config.status.socketMode == 0o660)
        #expect(config.status.metricsPort == 9464)
        #expect(config.channels.map(\.info.name) == ["A01", "A02"])
        #expect(config.channels[0].info.ratedCapacityAh == 3.0)
        #expect(config.channels(of: "sim").map(\.info.instrumentChannel) == [0, 1])
        #expect(config.channels[1].observerTuning.ocvSigma == 0 && config.channels[1].observerTuning.resistanceSigma == 0)
        let considered = try load(Self.valid.replacingOccurrences(of: "index = 1", with: "index = 1\nocv_sigma_v = 0.0053\nresistance_sigma_ohm = 0.002"))
        #expect(considered.channels[1].observerTuning.ocvSigma == 0.0053 && considered.channels[1].observerTuning.resistanceSigma == 0.002)
    }

    @Test func unknownInstrumentNamesLineAndKey() throws {
        let text = Self.valid.replacingOccurrences(of: "instrument = \"sim\"\nindex = 1", with: "instrument = \"cycler\"\nindex = 1")
        let e = try #require(error(text))
        #expect(e.key == "channels[1].instrument")
        #expect(e.line == 20)
        #expect(e.description.hasPrefix("/etc/cellbench/bench.toml:20: key 'channels[1].instrument': no instrument named 'cycler'"))
    }

    @Test func badValuesAreRejectedWithTheirKey() throws {
        let cases: [(String, String, String)] = [
            ("metrics_port = 9464", "metrics_port = 70000", "status.metrics_port"),
            ("metrics_port = 9464", "metrics_port = 9464\nsocket_mode = \"999\"", "status.socket_mode"),
            ("path = \"state/bench.db\"", "path = \"state/bench.db\"\nbatch_rows = 0", "store.batch_rows"),
            ("path = \"state/bench.db\"", "path = 5", "store.path"),
            ("path = \"state/bench.db\"", "path = \"x\"\nbatch_row = 5", "store.batch_row"),
            ("index = 1", "index = 0", "channels[1].index"),
            ("name = \"A02\"", "name = \"A01\"", "channels[1].name"),
            ("name = \"A02\"", "name = \"A 02\"", "channels[1].name"),
            ("index = 1", "index = 1\nocv_sigma_v = -0.001", "channels[1].ocv_sigma_v"),
            ("index = 1", "index = 1\nresistance_sigma_ohm = \"5 mΩ\"", "channels[1].resistance_sigma_ohm"),
        ]
        for (from, to, key) in cases {
            let e = try #require(error(Self.valid.replacingOccurrences(of: from, with: to)), "\(to) must be rejected")
            #expect(e.key == key, "\(to)")
            #expect(e.line != nil, "\(to)")
        }
    }

    @Test func inverseVariantIsReadPerChannelAndCheckedWithItsLine() throws {
        let liIon = Self.valid.replacingOccurrences(of: "[[instruments]]", with: "[analysis]\ncircuit = \"li-ion\"\ninverse_variant = \"auto\"\n\n[[instruments]]")
            .replacingOccurrences(of: "index = 1", with: "index = 1\ninverse_variant = \"inductor, no-loop, arcs=2, warburg\"")
        let config = try load(liIon)
        #expect(config.channels[0].inverseVariant == .auto)
        #expect(config.channels[1].inverseVariant == .fixed(CircuitVariant(inductor: true, loop: false, arcs: 2, warburg: true)))
        #expect(try load(Self.valid).channels[0].inverseVariant == .fixed(.full))
        let typo = try #require(error(liIon.replacingOccurrences(of: "arcs=2", with: "arcs=5")))
        #expect(typo.key == "channels[1].inverse_variant")
        #expect(typo.line == 26)
        #expect(typo.message.contains("unknown switch 'arcs=5'"))
        // The switches belong to the li-ion circuit only.
        let other = try #require(error(Self.valid.replacingOccurrences(of: "index = 1", with: "index = 1\ninverse_variant = \"auto\"")))
        #expect(other.key == "channels[1].inverse_variant")
        #expect(other.message.contains("li-ion"))
    }

    @Test func missingSectionsAndSyntaxErrors() throws {
        #expect(error("[status]\nsocket = \"s\"\n[[channels]]\n")?.message.contains("[store]") == true)
        let syntax = try #require(error("[store]\npath = \n"))
        #expect(syntax.line == 2)
        let noChannels = try #require(error("[store]\npath = \"a\"\n[status]\nsocket = \"b\"\n"))
        #expect(noChannels.message.contains("no [[channels]]"))
    }
}

@Suite struct SimulatedCohortConfigurationTests {
    static func config(_ faults: [String: String]) -> String {
        DaemonProcess.cohortConfiguration(timeScale: 1000, faults: faults) + "[[channels]]\nname = \"C01\"\ninstrument = \"cohort\"\nindex = 0\n"
    }

    private func plan(_ text: String) throws {
        let config = try BenchConfiguration(document: ConfigDocument(text: text, file: "/etc/cellbench/bench.toml"))
        _ = try InstrumentFactory(drivers: DriverFactory()).plan(config.instruments[0], channels: config.channels.map(\.info))
    }

    @Test func faultsNameKnownChannelsAndKnownFaults() throws {
        try plan(Self.config(["C01": "internal-short"]))
        #expect {
            try plan(Self.config(["C01": "short"]))
        } throws: { error in
            let e = error as? ConfigError
            return e?.line == 15 && e?.key.hasSuffix("faults.C01") == true && e?.message.contains("internal-short") == true
        }
        #expect {
            try plan(Self.config(["C09": "internal-short"]))
        } throws: { error in
            let e = error as? ConfigError
            return e?.line == 15 && e?.key.hasSuffix("faults.C09") == true && e?.message.contains("no channel 'C09'") == true
        }
        // Its simulated clock would be the whole bench's: no other instrument beside it.
        let second = Self.config([:]).replacingOccurrences(of: "[[channels]]", with: "[[instruments]]\nname = \"sim\"\nkind = \"simulator\"\n[[channels]]")
        #expect {
            try plan(second)
        } throws: { error in
            let e = error as? ConfigError
            return e?.line == 17 && e?.key == "instruments[1].kind" && e?.message.contains("no other instrument") == true
        }
    }
}
