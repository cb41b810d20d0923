import LANABPF
import LANATestSupport
import XCTest

/// LANA's assembler against Debian's `bpfc` (netsniff-ng): the same source
/// must give the same `{ code, jt, jf, k },` lines, byte for byte.
final class BPFAssemblerOracleTests: XCTestCase {
    func testCorpusAssemblesLikeBpfc() throws {
        try BPFTools.require(tool: "bpfc", package: "netsniff-ng")
        let corpus = BPFAssemblerCorpus.all
        XCTAssertGreaterThanOrEqual(corpus.count, 60, "the corpus must hold at least 60 programs")
        var compared = 0
        for (name, source) in corpus {
            let reference = try BPFTools.bpfc(source)
            XCTAssertEqual(reference.status, 0, "\(name): bpfc refused it: \(reference.stderr)\(reference.stdout)")
            let expected = BPFTools.tupleLines(reference.stdout)
            do {
                let ours = try BPFAssembler.assemble(source)
                XCTAssertEqual(ours.map(\.tuple), expected, "\(name): LANA and bpfc differ for:\n\(source)")
                // The printed form is what the status file shows.
                XCTAssertEqual(BPFDisassembler.tuples(ours), expected.map { $0 + "\n" }.joined(), name)
                compared += 1
            } catch {
                XCTFail("\(name): LANA refused what bpfc assembles: \(error)\n\(source)")
            }
        }
        XCTAssertEqual(compared, corpus.count)
    }

    /// Every mnemonic `bpfc -d` lists appears in the corpus.
    func testCorpusCoversEveryBpfcMnemonic() throws {
        try BPFTools.require(tool: "bpfc", package: "netsniff-ng")
        // `bpfc -d` prints the table and exits 1.
        let listed = try BPFTools.run(["bpfc", "-d"]).stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        XCTAssertGreaterThan(listed.count, 20)
        let words = Set(BPFAssemblerCorpus.all.flatMap { $0.1.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init) })
        for mnemonic in listed where !mnemonic.isEmpty {
            XCTAssertTrue(words.contains(mnemonic), "the corpus never uses \(mnemonic)")
        }
        for sugar in ["jneq", "jne", "jlt", "jle", "jmp", "ldi", "ldxi"] {
            XCTAssertTrue(words.contains(sugar), "the corpus never uses \(sugar)")
        }
    }

    /// The disassembly of every corpus program assembles, with `bpfc` too,
    /// back to the same instructions.
    func testDisassemblyRoundTripsThroughBpfc() throws {
        try BPFTools.require(tool: "bpfc", package: "netsniff-ng")
        for (name, source) in BPFAssemblerCorpus.all {
            let instructions = try BPFAssembler.assemble(source)
            let text = BPFDisassembler.assembly(instructions)
            XCTAssertEqual(try BPFAssembler.assemble(text), instructions, "\(name): LANA round trip\n\(text)")
            let reference = try BPFTools.bpfc(text)
            XCTAssertEqual(BPFTools.tupleLines(reference.stdout), instructions.map(\.tuple), "\(name): bpfc reading our disassembly\n\(text)")
        }
    }

    /// Sources both refuse.
    func testBothRefuseMalformedSources() throws {
        try BPFTools.require(tool: "bpfc", package: "netsniff-ng")
        let bad = [
            "ld\n", "jeq #1\nret #0\n", "frob #1\n", "ldxb 3*([14]&0xf)\nret #0\n", "ret #\n", "st M[]\nret #0\n",
            "ld [x + ]\nret a\n", "ja nowhere\nret #0\n", "ldh #len\nret a\n", "ret y\n",
            "ldb M[1]\nret a\n", "st [1]\nret a\n", "add [1]\nret a\n", "jeq #1, L1, L2, L3\nL1: ret #0\nL2: ret #0\nL3: ret #0\n",
            "ld $5\nret a\n",
        ]
        for source in bad {
            let reference = try BPFTools.bpfc(source)
            XCTAssertNotEqual(reference.status, 0, "bpfc accepted \(source.debugDescription): \(reference.stdout)")
            XCTAssertThrowsError(try BPFAssembler.assemble(source), "LANA accepted \(source.debugDescription)") { error in
                let message = String(describing: error)
                XCTAssertTrue(message.hasPrefix("line "), "no line in the error for \(source.debugDescription): \(message)")
            }
        }
    }
}

extension BPFAssemblerOracleTests {
    /// Random programs in every spelling: LANA and `bpfc` agree on each.
    func testRandomSourcesAssembleLikeBpfc() throws {
        try BPFTools.require(tool: "bpfc", package: "netsniff-ng")
        var random = BPFRandomAssembly(rng: SplitMix64(seed: 0xB9F0_000A))
        let count = 400
        for round in 0..<count {
            let source = random.program(count: Int.random(in: 2...30, using: &random.rng))
            let reference = try BPFTools.bpfc(source)
            let ours = Result { try BPFAssembler.assemble(source) }
            guard reference.status == 0 else {
                XCTFail("round \(round): bpfc refused it (\(reference.stderr)); LANA: \(ours)\n\(source)")
                return
            }
            guard case .success(let instructions) = ours else {
                XCTFail("round \(round): LANA refused what bpfc assembles: \(ours)\n\(source)")
                return
            }
            if instructions.map(\.tuple) != BPFTools.tupleLines(reference.stdout) {
                XCTFail("round \(round): LANA and bpfc differ\n\(source)\nbpfc:\n\(reference.stdout)LANA:\n\(BPFDisassembler.tuples(instructions))")
                return
            }
        }
    }

    /// The other output forms of `bpfc` and `tcpdump` load to the same
    /// instructions: `bpfc -f xt_bpf`, `bpfc -f tcpdump`, `tcpdump -ddd`.
    func testToolOutputFormsLoad() throws {
        try BPFTools.require(tool: "bpfc", package: "netsniff-ng")
        try BPFTools.require(tool: "tcpdump", package: "tcpdump")
        for (name, source) in BPFAssemblerCorpus.all {
            let expected = try BPFAssembler.assemble(source)
            let path = NSTemporaryDirectory() + "lana-bpfc-forms-\(getpid()).bpf"
            try source.write(toFile: path, atomically: false, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            for format in ["xt_bpf", "tcpdump", "C"] {
                let output = try BPFTools.check("bpfc", "-b", "-f", format, "-i", path)
                XCTAssertEqual(try BPFProgram.parse(output).instructions, expected, "\(name): bpfc -f \(format)")
            }
        }
        for expression in BPFExpressions.all {
            let output = try BPFTools.check("tcpdump", "-ddd", "-y", "EN10MB", "-s", String(PcapFilterCompiler.snapshotLength), expression)
            XCTAssertEqual(try BPFProgram(source: output).instructions, try PcapFilterCompiler.compile(expression), expression)
        }
    }
}
