// Unsafe code: hands instruction and frame buffers to libpcap's
// `bpf_filter`. Invariant: each buffer outlives the call and its count is
// the one passed.
import CPcap
import LANABPF
import LANATestSupport
import XCTest

/// `PcapFilterCompiler` against `tcpdump -dd`, and LANA's machine against
/// libpcap's reference interpreter `bpf_filter`.
final class BPFPcapOracleTests: XCTestCase {
    func testExpressionsCompileLikeTcpdump() throws {
        try BPFTools.require(tool: "tcpdump", package: "tcpdump")
        XCTAssertGreaterThanOrEqual(BPFExpressions.all.count, 40)
        for expression in BPFExpressions.all {
            let reference = try BPFTools.tcpdump(expression)
            XCTAssertEqual(reference.status, 0, "tcpdump refused \(expression): \(reference.stderr)")
            let expected = BPFTools.tupleLines(reference.stdout)
            XCTAssertFalse(expected.isEmpty, expression)
            let ours = try PcapFilterCompiler.compile(expression)
            XCTAssertEqual(ours.map(\.tuple), expected, "\(expression): PcapFilterCompiler and tcpdump -dd differ")
            XCTAssertNoThrow(try BPFProgram(filter: expression), "\(expression): compiled program refused by the verifier")
        }
    }

    func testBadExpressionsAreRefusedByBoth() throws {
        try BPFTools.require(tool: "tcpdump", package: "tcpdump")
        for expression in ["tcp port", "host 999.1.1.1", "frobnicate", "ip and", "port 99999"] {
            XCTAssertNotEqual(try BPFTools.tcpdump(expression).status, 0, "tcpdump accepted \(expression)")
            XCTAssertThrowsError(try PcapFilterCompiler.compile(expression), expression) { error in
                XCTAssertTrue(String(describing: error).contains("tcpdump expression"), "\(error)")
            }
        }
    }

    /// libpcap's interpreter on `frame`.
    static func libpcap(_ program: [BPFInstruction], _ frame: [UInt8]) -> UInt32 {
        let insns = program.map { bpf_insn(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
        return insns.withUnsafeBufferPointer { code in
            frame.withUnsafeBufferPointer { bytes in
                // A valid pointer even for an empty frame.
                var dummy: UInt8 = 0
                let base = bytes.baseAddress ?? withUnsafePointer(to: &dummy) { $0 }
                return bpf_filter(code.baseAddress, base, UInt32(frame.count), UInt32(frame.count))
            }
        }
    }

    static func lana(_ compiled: BPFCompiledProgram, _ frame: [UInt8]) -> UInt32 {
        var environment = BPFEnvironment()
        return frame.withUnsafeBytes { compiled.run($0, &environment) }
    }

    /// Every tcpdump-compiled program gives libpcap's result on every test
    /// frame, on every machine (interpreter fused and unfused, native code).
    func testCompiledExpressionsMatchLibpcap() throws {
        var rng = SplitMix64(seed: 0xB9F0_0003)
        let frames = BPFTestFrames.mixed(using: &rng, random: 64)
        var matches = 0, runs = 0
        for expression in BPFExpressions.all {
            let program = try BPFProgram(filter: expression)
            for compiled in BPFMachines.all(program) {
                for (index, frame) in frames.enumerated() {
                    let expected = Self.libpcap(program.instructions, frame)
                    let got = Self.lana(compiled, frame)
                    runs += 1
                    if expected != 0 { matches += 1 }
                    if got != expected {
                        XCTFail("\(expression), frame \(index) (\(frame.count) bytes): libpcap \(expected), LANA \(got) (\(BPFMachines.name(compiled)))")
                        return
                    }
                }
            }
        }
        // The frames must exercise both outcomes.
        XCTAssertGreaterThan(matches, runs / 20)
        XCTAssertLessThan(matches, runs - runs / 20)
    }

    /// Random verified programs in the dialect libpcap and Linux agree on.
    func testRandomProgramsMatchLibpcap() throws {
        var rng = SplitMix64(seed: 0xB9F0_0004)
        let generator = BPFRandomProgram(dialect: .pcap)
        let programs = 4000
        var nonZero = 0, runs = 0
        for round in 0..<programs {
            let instructions = generator.make(count: Int.random(in: 2...80, using: &rng), using: &rng)
            let program = try BPFProgram(instructions)
            let frames = BPFTestFrames.mixed(using: &rng, random: 4).shuffled(using: &rng).prefix(12)
            for compiled in BPFMachines.all(program) {
                for frame in frames {
                    let expected = Self.libpcap(instructions, frame)
                    let got = Self.lana(compiled, frame)
                    runs += 1
                    if expected != 0 { nonZero += 1 }
                    if got != expected {
                        XCTFail("""
                            program \(round) on a \(frame.count)-byte frame: libpcap \(expected), LANA \(got) (\(BPFMachines.name(compiled)))
                            \(BPFDisassembler.listing(instructions))frame: \(frame)
                            """)
                        return
                    }
                }
            }
        }
        XCTAssertGreaterThan(nonZero, runs / 10)
    }
}

extension BPFPcapOracleTests {
    /// `BPFDisassembler.listing` is `tcpdump -d`, character for character.
    func testListingMatchesTcpdump() throws {
        try BPFTools.require(tool: "tcpdump", package: "tcpdump")
        for expression in BPFExpressions.all {
            let reference = try BPFTools.check("tcpdump", "-d", "-y", "EN10MB", "-s", String(PcapFilterCompiler.snapshotLength), expression)
            XCTAssertEqual(BPFDisassembler.listing(try PcapFilterCompiler.compile(expression)), reference, expression)
        }
    }

    /// Each line of the listing is libpcap's `bpf_image`, for random
    /// programs with every opcode, extension and negative offset.
    func testListingMatchesBpfImage() throws {
        var rng = SplitMix64(seed: 0xB9F0_000B)
        var generator = BPFRandomProgram(dialect: .linux)
        generator.extensions = BPFAncillary.allCases
        for _ in 0..<500 {
            let program = generator.make(count: Int.random(in: 2...40, using: &rng), using: &rng)
            for (index, insn) in program.enumerated() {
                var raw = bpf_insn(code: insn.code, jt: insn.jt, jf: insn.jf, k: insn.k)
                let expected = String(cString: bpf_image(&raw, Int32(index)))
                XCTAssertEqual(BPFDisassembler.line(insn, at: index), expected)
            }
        }
    }
}
