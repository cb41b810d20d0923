// Unsafe code: runs programs over exactly-sized heap buffers. Invariant:
// each buffer is allocated with the length passed to `run` and freed after.
@testable import LANABPF
import XCTest
import LANATestSupport

/// Properties of every program the verifier accepts: it terminates, never
/// reads outside the packet or scratch memory, and its compiled form never
/// jumps outside the instruction array. Debug builds compile the machine's
/// internal bounds assertions (LANA_INTERNAL_CHECKS), so a violation traps.
final class BPFMachinePropertyTests: XCTestCase {
    /// The compiled form of `program` only jumps inside itself.
    static func checkJumpTargets(_ compiled: BPFCompiledProgram, _ label: String) {
        let jumps: Set<BPFOperation> = [
            .ja, .jeqK, .jgtK, .jgeK, .jsetK, .jeqX, .jgtX, .jgeX, .jsetX, .ldHJeq, .ldHJgt, .ldHJge, .ldHJset,
            .ldBJeq, .ldBJgt, .ldBJge, .ldBJset, .ldWJeq, .ldWJgt, .ldWJge, .ldWJset, .ldIndHJeq,
        ]
        XCTAssertEqual(compiled.count, compiled.program.count, label)
        for pc in 0..<compiled.count {
            let step = compiled.code[pc]
            guard jumps.contains(step.op) else { continue }
            XCTAssertGreaterThan(Int(step.jt), pc, "\(label): step \(pc) jumps back")
            XCTAssertLessThan(Int(step.jt), compiled.count, "\(label): step \(pc) jumps past the end")
            if step.op != .ja {
                XCTAssertGreaterThan(Int(step.jf), pc, "\(label): step \(pc) jumps back")
                XCTAssertLessThan(Int(step.jf), compiled.count, "\(label): step \(pc) jumps past the end")
            }
        }
        // The last step returns.
        XCTAssertTrue([.retK, .retA].contains(compiled.code[compiled.count - 1].op), label)
    }

    /// Runs `compiled` over an exactly-sized copy of `frame`.
    static func run(_ compiled: BPFCompiledProgram, _ frame: [UInt8], _ environment: inout BPFEnvironment) -> UInt32 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(frame.count, 1), alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: frame)
        return compiled.run(UnsafeRawBufferPointer(rebasing: buffer[0..<frame.count]), &environment)
    }

    func testRandomAcceptedProgramsStayInBounds() throws {
        var rng = SplitMix64(seed: 0xB9F0_0007)
        var generator = BPFRandomProgram(dialect: .linux)
        generator.extensions = BPFAncillary.allCases
        let shortFrames: [[UInt8]] = [[], [0x45], Array(repeating: 0xFF, count: 3), Array(repeating: 0, count: 13),
                                      BPFTestFrames.catalogue()[0].prefix(14).map { $0 }, BPFTestFrames.catalogue()[0].prefix(21).map { $0 }]
        let count = 5000
        for round in 0..<count {
            let program = try BPFProgram(generator.make(count: Int.random(in: 2...120, using: &rng), using: &rng))
            let protocolType: UInt16 = [0x0800, 0x86DD, 0x8100, 0x8864, 0x0806, 0].randomElement(using: &rng)!
            var results: [[UInt32]] = []
            for compiled in BPFMachines.all(program) {
                Self.checkJumpTargets(compiled, "program \(round)")
                var environment = BPFEnvironment()
                environment.protocol = protocolType
                var machineResults = shortFrames.map { Self.run(compiled, $0, &environment) }
                // An empty buffer without a base address.
                machineResults.append(compiled.run(UnsafeRawBufferPointer(start: nil, count: 0), &environment))
                results.append(machineResults)
            }
            if Set(results).count != 1 {
                XCTFail("program \(round): machines differ on short frames: \(results)\n\(BPFDisassembler.listing(program.instructions))")
                return
            }
        }
    }

    /// Arbitrary instruction soup: whatever the verifier lets through runs
    /// safely on frames of every length up to 64.
    func testAcceptedSoupStaysInBounds() throws {
        var rng = SplitMix64(seed: 0xB9F0_0008)
        let known: [UInt16] = (0..<256).map(UInt16.init).filter(BPFVerifier.isAllowed)
        var accepted = 0
        let frame = BPFTestFrames.catalogue()[3]
        for _ in 0..<200_000 {
            let n = Int.random(in: 1...8, using: &rng)
            let program = (0..<n).map { _ in
                BPFInstruction(code: known.randomElement(using: &rng)!, jt: UInt8.random(in: 0...UInt8(n), using: &rng),
                               jf: UInt8.random(in: 0...UInt8(n), using: &rng),
                               k: [0, 1, 4, 14, 15, 0xFFFF_FFFF, 0xFFFF_F000 + 4 * UInt32.random(in: 0..<16, using: &rng),
                                   BPFAncillary.networkBase + 3, BPFAncillary.linkLayerBase + 1, UInt32.random(in: 0...UInt32.max, using: &rng)]
                                   .randomElement(using: &rng)!)
            }
            guard let verified = try? BPFProgram(program) else { continue }
            accepted += 1
            var results: [[UInt32]] = []
            for compiled in [BPFCompiledProgram(verified)] + (BPFMachine.nativeAvailable ? [BPFMachines.native(verified)] : []) {
                Self.checkJumpTargets(compiled, BPFDisassembler.tuples(program))
                var environment = BPFEnvironment()
                environment.protocol = 0x0800
                results.append([0, 1, 2, 3, 4, 13, 14, 15, 33, 34, 64].map { length in
                    Self.run(compiled, Array(frame.prefix(length)), &environment)
                })
            }
            if Set(results).count != 1 {
                XCTFail("interpreter and native code differ: \(results)\n\(BPFDisassembler.listing(program))")
                return
            }
        }
        XCTAssertGreaterThan(accepted, 1000)
    }

    /// Fused and unfused forms, and native code, agree on every frame.
    func testFusionPreservesResults() throws {
        var rng = SplitMix64(seed: 0xB9F0_0009)
        let generator = BPFRandomProgram(dialect: .linux)
        let frames = BPFTestFrames.mixed(using: &rng)
        for round in 0..<2000 {
            let program = try BPFProgram(generator.make(count: Int.random(in: 2...60, using: &rng), using: &rng))
            let machines = BPFMachines.all(program)
            for frame in frames.prefix(20) {
                let results = machines.map { compiled in
                    var environment = BPFEnvironment()
                    return Self.run(compiled, frame, &environment)
                }
                if Set(results).count != 1 {
                    XCTFail("program \(round): fused, unfused, native: \(results)\n\(BPFDisassembler.listing(program.instructions))")
                    return
                }
            }
        }
    }

    /// Verifier messages name the instruction and the reason.
    func testRefusalsNameInstructionAndReason() {
        let program = [BPFInstruction(code: 0x28, k: 12), BPFInstruction(code: 0x34, k: 0), BPFInstruction(code: 0x16)]
        XCTAssertThrowsError(try BPFVerifier.verify(program)) { error in
            XCTAssertEqual(String(describing: error), "instruction 1 (div #0): division by constant 0")
        }
        XCTAssertThrowsError(try BPFProgram(source: "ldh [12]\n\nld M[3]\nret a")) { error in
            XCTAssertEqual(String(describing: error), "line 3: instruction 1 (ld M[3]): reads M[3] before every path to it has written it")
        }
    }
}
