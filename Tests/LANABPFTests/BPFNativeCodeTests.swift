// Unsafe code: runs programs over exactly-sized heap buffers and probes the
// process's mappings. Invariant: each buffer is allocated with the length
// passed to `run` and freed after; probed addresses are only passed to
// `mincore`, never dereferenced.
import Glibc
@testable import LANABPF
import XCTest
import LANATestSupport

/// Native code against the interpreter, its oracle, where the processor
/// has an emitter: the same results (and the same environment afterwards)
/// on every frame, including truncated frames, out-of-range and negative
/// loads, division by X = 0 and every extension; and memory that is never
/// writable and executable at once.
final class BPFNativeCodeTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(BPFMachine.nativeAvailable, "no native code emitter for this processor")
    }

    static func run(_ compiled: BPFCompiledProgram, _ frame: [UInt8], _ environment: inout BPFEnvironment) -> UInt32 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(frame.count, 1), alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: frame)
        return compiled.run(UnsafeRawBufferPointer(rebasing: buffer[0..<frame.count]), &environment)
    }

    /// Runs `program` on both machines over `frames` with `environment`;
    /// fails on the first difference in result or environment.
    @discardableResult
    func compare(_ program: BPFProgram, _ frames: [[UInt8]], _ environment: BPFEnvironment, _ label: String) -> Bool {
        let interpreter = BPFCompiledProgram(program), native = BPFMachines.native(program)
        XCTAssertEqual(native.machine, .native)
        for (index, frame) in frames.enumerated() {
            var e1 = environment, e2 = environment
            let expected = Self.run(interpreter, frame, &e1), got = Self.run(native, frame, &e2)
            if expected != got || e1 != e2 {
                XCTFail("""
                    \(label), frame \(index) (\(frame.count) bytes): interpreter \(expected), native \(got)\
                    \(e1 != e2 ? " (environments differ)" : "")
                    \(BPFDisassembler.listing(program.instructions))
                    """)
                return false
            }
        }
        return true
    }

    /// Random programs reading every extension, with random environments,
    /// over frames of every kind and their truncations.
    func testRandomProgramsWithEveryExtensionMatchTheInterpreter() throws {
        var rng = SplitMix64(seed: 0xB9F0_0011)
        var generator = BPFRandomProgram(dialect: .linux)
        generator.extensions = BPFAncillary.allCases
        let full = BPFTestFrames.mixed(using: &rng, random: 8)
        var frames = full
        for frame in full.prefix(10) { frames += [0, 1, 13, 14, 15, 20, 33, 34, 54].map { Array(frame.prefix($0)) } }
        for round in 0..<3000 {
            let program = try BPFProgram(generator.make(count: Int.random(in: 2...100, using: &rng), using: &rng))
            var environment = BPFEnvironment()
            environment.protocol = [0x0800, 0x86DD, 0x8100, 0x0806, 0x8847, 0x0004, 0].randomElement(using: &rng)!
            environment.packetType = UInt8.random(in: 0...255, using: &rng)
            environment.interfaceIndex = UInt32.random(in: 0...UInt32.max, using: &rng)
            environment.mark = UInt32.random(in: 0...UInt32.max, using: &rng)
            environment.queue = UInt16.random(in: 0...UInt16.max, using: &rng)
            environment.hardwareType = UInt16.random(in: 0...UInt16.max, using: &rng)
            environment.rxHash = UInt32.random(in: 0...UInt32.max, using: &rng)
            environment.cpu = UInt32.random(in: 0...255, using: &rng)
            environment.vlanTCI = UInt16.random(in: 0...UInt16.max, using: &rng)
            environment.vlanPresent = Bool.random(using: &rng)
            environment.vlanTPID = [0, 0x8100, 0x88A8].randomElement(using: &rng)!
            environment.networkOffset = [14, 18].randomElement(using: &rng)!
            environment.randomState = UInt64.random(in: 1...UInt64.max, using: &rng)
            guard compare(program, frames.shuffled(using: &rng).prefix(16).map { $0 }, environment, "program \(round)") else { return }
        }
    }

    /// The corners: `[x + k]` wrapping into the `SKF_NET_OFF`/`SKF_LL_OFF`
    /// regions and the gap between them, loads ending exactly at the
    /// frame's end, the largest offsets, division and modulo by X = 0,
    /// shifts by X of 32 and more.
    func testCornersMatchTheInterpreter() throws {
        let frame = BPFTestFrames.catalogue()[0]
        let frames = (0...frame.count).map { Array(frame.prefix($0)) }
        let xs: [UInt32] = [0, 1, 3, 13, 14, 31, 32, 33, 64, 0x7FFF_FFFF, 0x8000_0000, 0xFFDF_FFFF, 0xFFE0_0000, 0xFFE0_0002,
                            0xFFEF_FFFF, 0xFFF0_0000, 0xFFF0_0003, 0xFFFF_F000, 0xFFFF_FFFC, 0xFFFF_FFFF]
        let ks: [UInt32] = [0, 1, 2, 12, 0x7FFF_FFFB, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
        var sources: [String] = []
        for x in xs {
            for k in ks {
                for size in ["", "h", "b"] { sources.append("ldx #\(x)\nld\(size) [x + \(k)]\nret a") }
            }
            for op in ["div", "mod", "lsh", "rsh", "add", "sub", "mul", "and", "or", "xor"] {
                sources.append("ldx #\(x)\nld #0x87654321\n\(op) x\nret a")
            }
            for jump in ["jeq", "jgt", "jge", "jset"] {
                sources.append("ldx #\(x)\nld #14\n\(jump) x, yes, no\nyes: ret #1\nno: ret #2")
                sources.append("ld #\(x)\n\(jump) #14, yes, no\nyes: ret a\nno: ret #2")
            }
        }
        for k in [0, 10, 12, 13, 56, 57, 58, 59, 60, 0x7FFF_FFFC, 0x7FFF_FFFE, 0x7FFF_FFFF, 0xFFE0_0000, 0xFFEF_FFFF, 0xFFF0_0000, 0xFFF0_002E] {
            for size in ["", "h", "b"] { sources.append("ld\(size) [\(k)]\nret a") }
            sources.append("ldxb 4*([\(k)]&0xf)\ntxa\nret a")
        }
        for k: UInt32 in [1, 2, 3, 7, 8, 1 << 31, 0xFFFF_FFFF] {
            sources.append("ld #0x87654321\ndiv #\(k)\nret a")
            sources.append("ld #0x87654321\nmod #\(k)\nret a")
        }
        for source in sources {
            guard compare(try BPFProgram(source: source), frames, BPFEnvironment(), source) else { return }
        }
    }

    /// A program of the maximum length, mostly loads and jumps (the code
    /// is longer than a page, jumps longer than a byte).
    func testLongestProgramMatchesTheInterpreter() throws {
        var source = ""
        for i in 0..<1364 { source += "ldh [\(i % 60)]\njeq #\(i), hit\(i), next\(i)\nhit\(i): ja out\nnext\(i):\n" }
        source += "tax\nld #len\nret a\nout: ret #1"
        let program = try BPFProgram(source: source)
        XCTAssertEqual(program.count, 4096)
        let native = BPFMachines.native(program)
        XCTAssertGreaterThan(native.native?.size ?? 0, 4096)
        var rng = SplitMix64(seed: 0xB9F0_0012)
        compare(program, BPFTestFrames.mixed(using: &rng, random: 8), BPFEnvironment(), "longest")
    }

    /// `/proc/self/maps` after compiling many programs: no mapping is
    /// writable and executable, and the code sits in a read-execute one.
    /// Freed code is unmapped.
    func testNoMappingIsWritableAndExecutable() throws {
        var rng = SplitMix64(seed: 0xB9F0_0013)
        let generator = BPFRandomProgram(dialect: .linux)
        var kept: [BPFCompiledProgram] = []
        for _ in 0..<500 {
            kept.append(BPFMachines.native(try BPFProgram(generator.make(count: Int.random(in: 2...200, using: &rng), using: &rng))))
        }
        let maps = try Self.mappings()
        let writableAndExecutable = maps.filter { $0.permissions.contains("w") && $0.permissions.contains("x") }
        XCTAssertEqual(writableAndExecutable.map(\.line), [], "mappings both writable and executable")
        for compiled in kept.prefix(50) {
            let address = UInt(bitPattern: unsafeBitCast(compiled.native!.entry, to: Int.self))
            let holding = maps.filter { $0.start <= address && address < $0.end }
            XCTAssertEqual(holding.map(\.permissions), ["r-xp"], "code at 0x\(String(address, radix: 16))")
        }
        // Freed: the page is no longer mapped (mincore fails with ENOMEM).
        let page = UInt(bitPattern: unsafeBitCast(kept.removeLast().native!.entry, to: Int.self))
        var vector: UInt8 = 0
        XCTAssertEqual(mincore(UnsafeMutableRawPointer(bitPattern: page), Int(sysconf(Int32(_SC_PAGESIZE))), &vector), -1)
        XCTAssertEqual(errno, ENOMEM)
    }

    struct POSIXError: Error { let errno: Int32 }

    struct Mapping {
        let start: UInt, end: UInt, permissions: String, line: String
    }

    static func mappings() throws -> [Mapping] {
        // procfs reports a size of 0: read until the end.
        let fd = open("/proc/self/maps", O_RDONLY)
        guard fd >= 0 else { throw POSIXError(errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertGreaterThan(text.count, 0)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2 else { return nil }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { return nil }
            return Mapping(start: start, end: end, permissions: String(fields[1]), line: String(line))
        }
    }

    /// `native: false` (the default) and the interpreter view run the
    /// interpreter; the block's `jit=off` relies on it.
    func testInterpreterRemainsSelectable() throws {
        let program = try BPFProgram(source: "ldh [12]\njeq #0x800, yes, no\nyes: ret #1\nno: ret #0")
        XCTAssertNil(BPFCompiledProgram(program).native)
        XCTAssertEqual(BPFCompiledProgram(program).machine, .interpreter)
        let native = BPFMachines.native(program)
        XCTAssertTrue(native.unownedView.isNative)
        XCTAssertFalse(native.interpreterView.isNative)
    }
}
