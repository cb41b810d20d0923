// A libFuzzer target for the BPF assembler, the program loader and the
// machines: every accepted program runs in the interpreter and as native
// code, and any difference is a failure.
//
// Built for fuzzing (libFuzzer supplies the driver):
//   swift build -c debug --product LANABPFFuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLANA_LIBFUZZER
// Built plainly, the same binary replays inputs (a corpus, or a crash file
// libFuzzer left behind): `LANABPFFuzz FILE...`, or writes a seed corpus of
// programs in every source form: `LANABPFFuzz --seeds DIR`.
//
// Unsafe code: the input buffer is libFuzzer's, valid for the call; the
// packet copies are allocated at their exact size so AddressSanitizer sees
// any read past a packet.

#if canImport(Glibc)
import Glibc
#endif
import LANABPF
import LANAFuzzSupport

/// Feeds one input to every BPF front end, and checks:
/// - whatever assembles disassembles (to assembly and to tuples) and
///   re-assembles to the same instructions;
/// - whatever loads as a program (any source form) loads again from its
///   tuples, its `tcpdump -ddd` form and its disassembly, unchanged;
/// - the input's bytes read as raw instructions are either refused by the
///   verifier or run (fused, unfused and as native code, with the same
///   result) over the input itself, its prefixes and an empty packet.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBPFLoaders(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    let text = String(decoding: bytes, as: UTF8.self)

    if let instructions = try? BPFAssembler.assemble(text) {
        let assembly = BPFDisassembler.assembly(instructions)
        guard let again = try? BPFAssembler.assemble(assembly), again == instructions else {
            fatalError("assembled program does not round-trip through its disassembly:\n\(assembly)")
        }
        guard let parsed = try? BPFProgram.parse(BPFDisassembler.tuples(instructions)), parsed.instructions == instructions else {
            fatalError("assembled program does not round-trip through its tuples:\n\(BPFDisassembler.tuples(instructions))")
        }
        _ = BPFDisassembler.listing(instructions)
    }

    if let program = try? BPFProgram(source: text) {
        let decimal = "\(program.count)\n" + program.instructions.map { "\($0.code) \($0.jt) \($0.jf) \($0.k)" }.joined(separator: "\n")
        for form in [program.tuples, decimal] {
            guard let again = try? BPFProgram(source: form), again == program else {
                fatalError("loaded program does not load again from:\n\(form)")
            }
        }
        // Assembly has no place for fields an instruction ignores (jt on a
        // load, k of `ret a`): equal up to those.
        let assembly = BPFDisassembler.assembly(program.instructions)
        guard let again = try? BPFProgram(source: assembly),
              again.instructions == program.instructions.map(canonical) else {
            fatalError("loaded program does not load again from its disassembly:\n\(assembly)")
        }
        run(program, on: bytes)
    }

    // The raw bytes as instructions: 8 bytes each, host order like sock_filter.
    let count = min(size / 8, BPFVerifier.maximumLength + 1)
    var raw: [BPFInstruction] = []
    raw.reserveCapacity(count)
    for i in 0..<count {
        let base = i * 8
        raw.append(BPFInstruction(code: bytes.loadUnaligned(fromByteOffset: base, as: UInt16.self),
                                  jt: bytes[base + 2], jf: bytes[base + 3],
                                  k: bytes.loadUnaligned(fromByteOffset: base + 4, as: UInt32.self)))
    }
    if let program = try? BPFProgram(raw) {
        run(program, on: bytes)
    } else {
        // Every refusal can be described (it names the instruction).
        do { try BPFVerifier.verify(raw) } catch { _ = error.description }
    }
    return 0
}

/// `insn` with the fields its operation ignores set to 0.
func canonical(_ insn: BPFInstruction) -> BPFInstruction {
    let O = BPFOpcode.self
    var out = insn
    if !insn.isConditionalJump { out.jt = 0; out.jf = 0 }
    switch insn.code {
    case O.ld | O.w | O.len, O.ldx | O.w | O.len, O.alu | O.neg, O.ret | O.retA, O.misc | O.tax, O.misc | O.txa:
        out.k = 0
    case _ where insn.code & 0x07 == O.alu || insn.isConditionalJump:
        if insn.code & O.x != 0 { out.k = 0 }
    default:
        break
    }
    return out
}

/// Runs `program` over exact-size copies of `packet` and of its first 14,
/// 34 and 54 bytes, and over nothing; the interpreter fused and unfused and
/// native code (where the processor has an emitter) must agree on the
/// result and on the environment afterwards (`#rand` advances it).
func run(_ program: BPFProgram, on packet: UnsafeRawBufferPointer) {
    let fused = BPFCompiledProgram(program)
    let plain = BPFCompiledProgram(program, fuse: false)
    let native = BPFCompiledProgram(program, native: true)
    if BPFMachine.nativeAvailable && native.native == nil { fatalError("no native code for\n\(program.tuples)") }
    for length in Set([packet.count, min(packet.count, 14), min(packet.count, 34), min(packet.count, 54), 0]) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 1)
        defer { copy.deallocate() }
        if length > 0 { copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[0..<length])) }
        var first = BPFEnvironment()
        // Environment values from the packet's last bytes, so the fuzzer
        // steers the extensions too.
        first.protocol = [0x0800, 0x86DD, 0x8100, 0x0806][packet.last.map { Int($0 & 3) } ?? 0]
        first.mark = UInt32(packet.count)
        first.vlanPresent = packet.count & 1 == 1
        var second = first, third = first
        let a = fused.run(UnsafeRawBufferPointer(copy), &first)
        let b = plain.run(UnsafeRawBufferPointer(copy), &second)
        if a != b { fatalError("fused \(a) and unfused \(b) differ for\n\(program.tuples)") }
        let c = native.run(UnsafeRawBufferPointer(copy), &third)
        if a != c || first != third {
            fatalError("interpreter \(a) and native code \(c) differ on \(length) bytes for\n\(program.tuples)")
        }
    }
}

#if LANA_LIBFUZZER
@_cdecl("LANABPFFuzz_main")
func fuzzerEntryPoint(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    runFuzzerDriver(argc, argv, fuzzBPFLoaders)
}
#else
/// Seeds: assembly with every addressing mode and extension, tuples, the
/// decimal form, and raw instructions.
func seeds() -> [[UInt8]] {
    var seeds: [[UInt8]] = [
        "ldh [12]\njeq #0x806, L1, L2\nL1: ret #0xffff\nL2: ret #0\n",
        "ldh [12]\njneq #0x800, drop\nldb [23]\njneq #6, drop\nldh [20]\njset #0x1fff, drop\nldxb 4*([14]&0xf)\n"
            + "ldh [x + 16]\njeq #80, accept, drop\naccept: ret #65535\ndrop: ret #0\n",
        "ld #len\nst M[0]\nldx M[0]\nadd x\nsub #1\nmul #3\ndiv #2\nmod #7\nand #0xff\nor #1\nxor x\nlsh #2\nrsh x\nneg\ntax\ntxa\nret a\n",
        "ld #proto\nld #type\nld #ifidx\nldx #1\nld #nla\nld #nlan\nld #mark\nld #queue\nld #hatype\nld #rxhash\nld #cpu\n"
            + "ld #vlan_tci\nld #vlanp\nld #poff\nld #rand\nld #vlan_tpid\nld #xor_x\nret a\n",
        "/* c */ ld [-1048576] ; net\n# hash\nldb [x+4]\njlt #3, a1\njle x, a1\na1: ja a2\na2: ret %a\n",
        "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000806 },\n{ 0x6, 0, 0, 0x0000ffff },\n{ 0x6, 0, 0, 0x00000000 },\n",
        "4\n40 0 0 12\n21 0 1 2054\n6 0 0 65535\n6 0 0 0\n",
        "4,40 0 0 12,21 0 1 2054,6 0 0 65535,6 0 0 0,",
    ].map { Array($0.utf8) }
    let raw: [(UInt16, UInt8, UInt8, UInt32)] = [(0x28, 0, 0, 12), (0x15, 0, 1, 0x800), (0x30, 0, 0, 0xFFFF_F000 + 52), (0x16, 0, 0, 0)]
    seeds.append(raw.flatMap { insn in
        withUnsafeBytes(of: insn.0) { Array($0) } + [insn.1, insn.2] + withUnsafeBytes(of: insn.3) { Array($0) }
    })
    return seeds
}

// main.swift's top-level code, written as a declaration: the libFuzzer build
// compiles this file with -parse-as-library (libFuzzer has the `main`), and
// the parser rejects top-level statements there even inside an inactive #if.
let replayStatus = runWithoutFuzzer(fuzzBPFLoaders, seeds: seeds)
#endif
