import Numerics
import Testing
@testable import Electrochem

@Suite("Spectrum importers")
struct ImportTests {
    /// Each original instrument file against the CSV impedance.py 1.7.1 converted it to
    /// (the converted files keep 10 decimals, so values agree to 1e-9 relative plus 1e-10 absolute).
    @Test("instrument files read as impedance.py reads them", arguments: [
        ("exampleData.csv", "exampleData_csv.csv", SpectrumFile.Format.csv),
        ("exampleDataBioLogic.mpt", "exampleDataBioLogic_mpt.csv", .biologic),
        ("exampleDataGamry.DTA", "exampleDataGamry_DTA.csv", .gamry),
        ("exampleDataZPlot.z", "exampleDataZPlot_z.csv", .zplot),
        ("exampleDataZPlot_noComments.z", "exampleDataZPlot_noComments_z.csv", .zplot),
        ("Circuit1_EIS_1.z", "Circuit1_EIS_1_z.csv", .zplot),
    ])
    func instrumentFile(original: String, converted: String, format: SpectrumFile.Format) throws {
        let file = try fixtureSpectrum("instrument-files/" + original)
        let expected = try fixtureSpectrum("instrument-files/converted/" + converted)
        #expect(file.format == format)
        #expect(expected.format == .csv)
        #expect(file.partial == nil)
        #expect(file.spectrum.count == expected.spectrum.count)
        for (a, b) in zip(zip(file.spectrum.frequencies, file.spectrum.impedance), zip(expected.spectrum.frequencies, expected.spectrum.impedance)) {
            #expect(abs(a.0 - b.0) <= 1e-9 * b.0 + 1e-10)
            #expect((a.1 - b.1).length <= 1e-9 * b.1.length + 1e-10)
        }
    }

    @Test("an aborted Gamry sweep is a marked partial result with the line")
    func abortedGamry() throws {
        let file = try fixtureSpectrum("instrument-files/exampleDataGamryABORT.DTA")
        let expected = try fixtureSpectrum("instrument-files/converted/exampleDataGamryABORT_DTA.csv")
        #expect(file.spectrum.count == 72)
        #expect(file.spectrum.frequencies == expected.spectrum.frequencies)
        let partial = try #require(file.partial)
        #expect(partial.contains("line 172"))
    }

    @Test("a BioLogic file without its frequency column is refused, naming the header line")
    func biologicMissingFrequency() throws {
        #expect {
            _ = try fixtureSpectrum("instrument-files/exampleDataBioLogic_MissingFreq.mpt")
        } throws: { error in
            guard let error = error as? SpectrumImportError else { return false }
            return error.line == 61 && error.reason.contains("freq/Hz")
        }
    }

    @Test("malformed CSV names file, line and column", arguments: [
        ("frequency_hz,z_real_ohm,z_imag_ohm\n1,2,-3\n2,x,-1\n", 3, 2, "'x' is not a number"),
        ("frequency_hz,z_real_ohm\n1,2\n", 1, nil, "column 'z_imag_ohm' not found"),
        ("# cell: A\nfrequency_hz,z_real_ohm,z_imag_ohm\n10,1,-1\n5,1\n", 4, nil, "2 fields"),
        ("1,2,-3\n-5,2,-3\n", 2, 1, "not positive"),
        ("frequency_hz,z_real_ohm,z_imag_ohm\n", nil, nil, "no data rows"),
    ])
    func malformedCSV(text: String, line: Int?, column: Int?, fragment: String) {
        #expect {
            _ = try SpectrumImporter.read(bytes: Array(text.utf8), name: "bad.csv")
        } throws: { error in
            guard let error = error as? SpectrumImportError else { return false }
            return error.file == "bad.csv" && error.line == line && error.column == column && error.reason.contains(fragment)
        }
    }

    @Test("CSV with reordered and extra columns, CRLF line ends")
    func csvColumnsByName() throws {
        let text = "# note: x\r\nz_imag_ohm,temperature_c,frequency_hz,z_real_ohm\r\n-0.5,25,100,1.5\r\n-0.25,25,10,2.5\r\n"
        let file = try SpectrumImporter.read(bytes: Array(text.utf8), name: "ok.csv")
        #expect(file.spectrum.frequencies == [100, 10])
        #expect(file.spectrum.impedance == [Complex(1.5, -0.5), Complex(2.5, -0.25)])
    }
}
