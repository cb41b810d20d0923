import LANABPF
import LANATestSupport
import XCTest

/// LANA's verifier against the Linux kernel's socket-filter checker: each
/// program is attached with `SO_ATTACH_FILTER` to a UDP socket, and the
/// kernel's verdict must be ours.
final class BPFVerifierKernelTests: XCTestCase {
    typealias O = BPFOpcode

    static func insn(_ code: UInt16, _ jt: UInt8 = 0, _ jf: UInt8 = 0, _ k: UInt32 = 0) -> BPFInstruction {
        BPFInstruction(code: code, jt: jt, jf: jf, k: k)
    }

    /// Refused programs, each with the instruction our verifier must name.
    static let invalid: [(String, [BPFInstruction], Int?)] = [
        ("empty", [], nil),
        ("4097 instructions", Array(repeating: insn(O.ret | O.retK), count: 4097), nil),
        ("ja out of range", [insn(O.jmp | O.ja, 0, 0, 1), insn(O.ret | O.retK)], 0),
        ("ja far out of range", [insn(O.jmp | O.ja, 0, 0, 0xFFFF_FFFF), insn(O.ret | O.retK)], 0),
        ("jt out of range", [insn(O.jmp | O.jeq | O.k, 1, 0, 0), insn(O.ret | O.retK)], 0),
        ("jf out of range", [insn(O.ld | O.imm), insn(O.jmp | O.jgt | O.x, 0, 5), insn(O.ret | O.retK)], 1),
        ("no ret at the end", [insn(O.ld | O.imm, 0, 0, 1)], 0),
        ("ends in a jump", [insn(O.ret | O.retK), insn(O.jmp | O.ja)], 1),
        ("ret x", [insn(O.ret | O.retX)], 0),
        ("div by constant 0", [insn(O.alu | O.div | O.k, 0, 0, 0), insn(O.ret | O.retA)], 0),
        ("mod by constant 0", [insn(O.ld | O.imm), insn(O.alu | O.mod | O.k, 0, 0, 0), insn(O.ret | O.retA)], 1),
        ("lsh by 32", [insn(O.alu | O.lsh | O.k, 0, 0, 32), insn(O.ret | O.retA)], 0),
        ("rsh by 0xffffffff", [insn(O.alu | O.rsh | O.k, 0, 0, 0xFFFF_FFFF), insn(O.ret | O.retA)], 0),
        ("st M[16]", [insn(O.st, 0, 0, 16), insn(O.ret | O.retA)], 0),
        ("ld M[16]", [insn(O.st, 0, 0, 0), insn(O.ld | O.mem, 0, 0, 16), insn(O.ret | O.retA)], 1),
        ("ldx M[4294967295]", [insn(O.ldx | O.mem, 0, 0, 0xFFFF_FFFF), insn(O.ret | O.retA)], 0),
        ("stx M[16]", [insn(O.stx, 0, 0, 16), insn(O.ret | O.retA)], 0),
        ("uninitialised M[0]", [insn(O.ld | O.mem), insn(O.ret | O.retA)], 0),
        ("uninitialised on one path", [
            insn(O.ld | O.w | O.abs), insn(O.jmp | O.jeq | O.k, 0, 1, 5), insn(O.st, 0, 0, 3),
            insn(O.ldx | O.mem, 0, 0, 3), insn(O.ret | O.retA),
        ], 3),
        ("written after the read", [insn(O.ld | O.mem, 0, 0, 2), insn(O.st, 0, 0, 2), insn(O.ret | O.retA)], 0),
        ("unknown opcode 0xff", [insn(0xFF), insn(O.ret | O.retK)], 0),
        ("unknown opcode 0x07|0x10", [insn(0x17), insn(O.ret | O.retK)], 0),
        ("unknown opcode ld|h|imm", [insn(0x08), insn(O.ret | O.retK)], 0),
        ("opcode above 8 bits", [insn(0x106), insn(O.ret | O.retK)], 0),
        ("unknown extension", [insn(O.ld | O.w | O.abs, 0, 0, BPFAncillary.base + 64), insn(O.ret | O.retA)], 0),
        ("unaligned extension", [insn(O.ld | O.h | O.abs, 0, 0, BPFAncillary.base + 2), insn(O.ret | O.retA)], 0),
        ("last extension offset", [insn(O.ld | O.b | O.abs, 0, 0, 0xFFFF_FFFF), insn(O.ret | O.retA)], 0),
    ]

    /// Accepted programs at the edges of the rules.
    static let valid: [(String, [BPFInstruction])] = [
        ("ret #0", [insn(O.ret | O.retK)]),
        ("ret a", [insn(O.ret | O.retA)]),
        ("4096 instructions", Array(repeating: insn(O.ret | O.retK), count: 4096)),
        ("ja to the last", [insn(O.jmp | O.ja, 0, 0, 1), insn(O.ret | O.retK), insn(O.ret | O.retK)]),
        ("jeq 255 ahead", [insn(O.jmp | O.jeq | O.k, 255, 255)] + Array(repeating: insn(O.ret | O.retK), count: 256)),
        ("M[15]", [insn(O.stx, 0, 0, 15), insn(O.ld | O.mem, 0, 0, 15), insn(O.ret | O.retA)]),
        ("written on both paths", [
            insn(O.jmp | O.jeq | O.k, 0, 2), insn(O.st, 0, 0, 1), insn(O.jmp | O.ja, 0, 0, 1), insn(O.stx, 0, 0, 1),
            insn(O.ld | O.mem, 0, 0, 1), insn(O.ret | O.retA),
        ]),
        ("lsh 31", [insn(O.alu | O.lsh | O.k, 0, 0, 31), insn(O.ret | O.retA)]),
        ("div x", [insn(O.alu | O.div | O.x), insn(O.ret | O.retA)]),
        ("SKF_NET_OFF", [insn(O.ld | O.b | O.abs, 0, 0, BPFAncillary.networkBase), insn(O.ret | O.retA)]),
        ("below SKF_AD_OFF", [insn(O.ld | O.w | O.abs, 0, 0, BPFAncillary.base - 1), insn(O.ret | O.retA)]),
        ("vlan_tpid", [insn(O.ld | O.h | O.abs, 0, 0, BPFAncillary.vlanTPID.offset), insn(O.ret | O.retA)]),
        ("ret after ret", [insn(O.ret | O.retK), insn(O.ld | O.imm), insn(O.ret | O.retK)]),
    ]

    func testRefusedProgramsAreRefusedByBoth() throws {
        for (name, program, instruction) in Self.invalid {
            let (kernel, error) = try BPFKernel.accepts(program)
            XCTAssertFalse(kernel, "\(name): the kernel accepted it")
            XCTAssertEqual(error, EINVAL, "\(name): the kernel's errno")
            XCTAssertThrowsError(try BPFVerifier.verify(program), "\(name): LANA accepted it") { error in
                let refusal = error as! BPFVerificationError
                XCTAssertEqual(refusal.instruction, instruction, "\(name): \(refusal)")
                XCTAssertFalse(refusal.description.isEmpty)
                if let instruction {
                    XCTAssertTrue(refusal.description.hasPrefix("instruction \(instruction) "), "\(name): \(refusal)")
                }
            }
        }
    }

    func testAcceptedProgramsAreAcceptedByBoth() throws {
        for (name, program) in Self.valid {
            XCTAssertTrue(try BPFKernel.accepts(program).0, "\(name): the kernel refused it")
            XCTAssertNoThrow(try BPFVerifier.verify(program), "\(name): LANA refused it")
        }
    }

    func testCorpusVerdictsMatchTheKernel() throws {
        var accepted = 0
        for (name, source) in BPFAssemblerCorpus.all {
            let program = try BPFAssembler.assemble(source)
            let kernel = try BPFKernel.accepts(program).0
            let ours = Result { try BPFVerifier.verify(program) }
            XCTAssertEqual(kernel, (try? ours.get()) != nil, "\(name): kernel \(kernel), LANA \(ours)")
            if kernel { accepted += 1 }
        }
        XCTAssertGreaterThan(accepted, 40)
    }

    func testRandomValidProgramsAreAccepted() throws {
        var rng = SplitMix64(seed: 0xB9F0_0001)
        for dialect in [BPFRandomProgram.Dialect.pcap, .linux] {
            var generator = BPFRandomProgram(dialect: dialect)
            generator.extensions = BPFAncillary.allCases
            for round in 0..<1000 {
                let program = generator.make(count: Int.random(in: 2...60, using: &rng), using: &rng)
                XCTAssertNoThrow(try BPFVerifier.verify(program), "\(dialect) #\(round)")
                XCTAssertTrue(try BPFKernel.accepts(program).0, "\(dialect) #\(round): kernel refused\n\(BPFDisassembler.listing(program))")
            }
        }
    }

    /// Random instruction soup and single mutations of valid programs: the
    /// verdicts must agree on every one.
    func testRandomSoupVerdictsMatchTheKernel() throws {
        var rng = SplitMix64(seed: 0xB9F0_0002)
        let known: [UInt16] = (0..<256).map(UInt16.init).filter(BPFVerifier.isAllowed)
        var accepted = 0, refused = 0
        func interestingK() -> UInt32 {
            [0, 1, 15, 16, 31, 32, 0xFFFF_FFFF, BPFAncillary.base, BPFAncillary.base + 4 * UInt32.random(in: 0..<18, using: &rng),
             BPFAncillary.base + 2, BPFAncillary.networkBase, UInt32.random(in: 0...UInt32.max, using: &rng),
             UInt32.random(in: 0..<20, using: &rng)].randomElement(using: &rng)!
        }
        for round in 0..<20_000 {
            var program: [BPFInstruction]
            if round % 2 == 0 {
                let n = Int.random(in: 1...12, using: &rng)
                program = (0..<n).map { _ in
                    let code = Int.random(in: 0..<20, using: &rng) == 0 ? UInt16.random(in: 0...0x1FF, using: &rng)
                                                                        : known.randomElement(using: &rng)!
                    return BPFInstruction(code: code, jt: UInt8.random(in: 0..<UInt8(n + 1), using: &rng),
                                          jf: UInt8.random(in: 0..<UInt8(n + 1), using: &rng), k: interestingK())
                }
                if Int.random(in: 0..<3, using: &rng) > 0 { program.append(BPFInstruction(code: O.ret | O.retA)) }
            } else {
                program = BPFRandomProgram(dialect: .linux).make(count: Int.random(in: 2...30, using: &rng), using: &rng)
                let i = Int.random(in: program.indices, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: program[i].code = known.randomElement(using: &rng)!
                case 1: program[i].k = interestingK()
                case 2: program[i].jt = UInt8.random(in: 0...UInt8(min(255, program.count)), using: &rng)
                default: program.remove(at: i)
                }
            }
            let kernel = try BPFKernel.accepts(program).0
            let ours = Result { try BPFVerifier.verify(program) }
            let lana = (try? ours.get()) != nil
            if kernel != lana {
                XCTFail("round \(round): kernel \(kernel ? "accepts" : "refuses"), LANA \(ours)\n\(BPFDisassembler.tuples(program))")
                return
            }
            if kernel { accepted += 1 } else { refused += 1 }
        }
        // Both verdicts must actually occur for the comparison to mean anything.
        XCTAssertGreaterThan(accepted, 2000)
        XCTAssertGreaterThan(refused, 2000)
    }
}
