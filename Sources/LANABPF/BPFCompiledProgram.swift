// Unsafe code: the classic BPF machine's data path.
//
// Invariants
// - `code` holds `count` pre-decoded instructions (see
//   BPFCompiledProgram+Compile.swift), made only from a verified
//   `BPFProgram`: every jump target (absolute index) is `< count`, every
//   path ends in a return, every scratch index is `< 16`, and the program
//   never reads a scratch cell no path has written.
// - Packet loads read `[offset, offset + size)` of the packet only after
//   checking `offset + size <= length` in `Int` arithmetic (offsets are at
//   most 2^32 + 2^20, so no overflow); a failed check ends the program with
//   0, as the kernel does.
// - The machine never allocates: scratch memory is a stack allocation of 16
//   words per run, and the environment is the caller's.
// - `code` is immutable after `init` and freed in `deinit`; engines hold a
//   program only between an acquiring load of the block's pointer and the
//   end of the burst, and the block frees a replaced program only after a
//   grace period (see BpfBlock).
// Under LANA_INTERNAL_CHECKS (debug builds) every load, scratch access and
// jump is asserted against these bounds as well.

/// A verified program compiled for fast execution: instructions decoded
/// once into a compact form with absolute jump targets, and the common
/// "load a header field, compare it with a constant" pair fused into one
/// step.
///
/// ```swift
/// let program = try BPFProgram(source: "ldh [12]\njeq #0x806, L1, L2\nL1: ret #1\nL2: ret #0")
/// let compiled = BPFCompiledProgram(program)
/// var env = BPFEnvironment()
/// let verdict = frame.withUnsafeBytes { compiled.run($0, &env) }   // 0: no match
/// ```
///
/// The semantics are the Linux socket filter's (net/core/filter.c): A, X
/// and the 16 scratch cells start at 0; arithmetic is 32-bit and wraps;
/// division or modulo by X = 0 ends with 0; shifts by X use its low 5 bits
/// (as the kernel's eBPF translation does on x86 and arm64); a load beyond
/// the packet ends with 0; `[x + k]` addresses `X + k` modulo 2^32, where
/// values from 2^31 on are negative offsets: `SKF_NET_OFF + n` reads byte
/// `n` of the network header (14 bytes into the frame), `SKF_LL_OFF + n`
/// byte `n` of the frame; other negative offsets fail. Absolute loads of
/// the extension offsets read ``BPFEnvironment`` (whatever the load size).
public final class BPFCompiledProgram: @unchecked Sendable {
    /// The program this was compiled from.
    public let program: BPFProgram
    /// Which machine ``run(_:_:)`` uses.
    public var machine: BPFMachine { native == nil ? .interpreter : .native }
    /// Extensions the program reads; the caller needs to fill only these
    /// fields of the ``BPFEnvironment``.
    public let uses: Set<BPFAncillary>
    @usableFromInline let code: UnsafeMutablePointer<BPFCompiledInstruction>
    @usableFromInline let count: Int
    /// The program as machine code, if it was asked for and this machine
    /// has an emitter (see ``BPFNativeEmitter``); ``run(_:length:_:)`` and
    /// ``unownedView`` then run it instead of the interpreter.
    public let native: BPFNativeCode?

    /// Compiles `program` for the interpreter and, with `native: true` on
    /// a machine that has an emitter (x86-64), to machine code as well.
    /// `fuse: false` keeps one interpreter step per instruction (for
    /// measuring what fusion gains).
    public init(_ program: BPFProgram, fuse: Bool = true, native wantsNative: Bool = false) {
        self.program = program
        let steps = BPFCompiledProgram.compile(program.instructions, fuse: false)
        let compiled = fuse ? BPFCompiledProgram.fused(steps) : steps
        count = compiled.count
        code = .allocate(capacity: compiled.count)
        code.initialize(from: compiled, count: compiled.count)
        if wantsNative, let emitter = BPFNativeTarget.emitter, let machineCode = emitter.emit(steps) {
            native = BPFNativeCode(machineCode)
        } else {
            native = nil
        }
        var uses = Set<BPFAncillary>()
        for insn in program.instructions where insn.code & 0xE7 == BPFOpcode.ld | BPFOpcode.abs {
            if let ext = BPFAncillary(offset: insn.k) { uses.insert(ext) }
        }
        self.uses = uses
    }

    deinit { code.deallocate() }

    /// Runs the program over `packet` (bytes from the Ethernet header).
    /// Returns the program's result: 0 means no match.
    @inlinable
    public func run(_ packet: UnsafeRawBufferPointer, _ environment: inout BPFEnvironment) -> UInt32 {
        guard let base = packet.baseAddress else {
            return run(UnsafeRawPointer(bitPattern: 1)!, length: 0, &environment)
        }
        return run(base, length: packet.count, &environment)
    }

    /// Runs the program over `length` bytes at `packet`.
    public func run(_ packet: UnsafeRawPointer, length: Int, _ environment: inout BPFEnvironment) -> UInt32 {
        if let native {
            return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { scratch in
                native.run(packet, length: length, &environment, scratch: scratch.baseAddress!)
            }
        }
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { scratch in
            BPFCompiledProgram.execute(code, count, packet, length, &environment, scratch.baseAddress!)
        }
    }

    @inline(__always)
    static func load32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    static func load16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(UInt16(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func load8(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(p.load(fromByteOffset: offset, as: UInt8.self))
    }

    @inline(__always)
    static func checkBounds(_ offset: Int, _ size: Int, _ length: Int) {
        #if LANA_INTERNAL_CHECKS
        precondition(offset >= 0 && offset + size <= length, "bpf: load [\(offset), +\(size)) beyond \(length)")
        #endif
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    static func execute(_ code: UnsafeMutablePointer<BPFCompiledInstruction>, _ count: Int,
                        _ p: UnsafeRawPointer, _ length: Int,
                        _ env: inout BPFEnvironment, _ mem: UnsafeMutablePointer<UInt32>) -> UInt32 {
        var a: UInt32 = 0
        var x: UInt32 = 0
        var pc = 0
        while true {
            #if LANA_INTERNAL_CHECKS
            precondition(pc >= 0 && pc < count, "bpf: pc \(pc) outside the program (\(count))")
            #endif
            // Read in place, field by field (see BPFCompiledProgram+View.swift):
            // copying the whole step first makes every step wait for all of
            // its loads.
            let i = code + pc
            pc &+= 1
            switch i.op {
            case .retK: return i.k
            case .retA: return a
            case .fail: return 0

            case .ldImm: a = i.k
            case .ldxImm: x = i.k
            case .ldLen: a = UInt32(truncatingIfNeeded: length)
            case .ldxLen: x = UInt32(truncatingIfNeeded: length)
            case .ldMem:
                scratchCheck(i.k); a = mem[Int(i.k)]
            case .ldxMem:
                scratchCheck(i.k); x = mem[Int(i.k)]
            case .st:
                scratchCheck(i.k); mem[Int(i.k)] = a
            case .stx:
                scratchCheck(i.k); mem[Int(i.k)] = x
            case .tax: x = a
            case .txa: a = x

            case .ldW:
                let o = Int(i.k)
                if o &+ 4 > length { return 0 }
                checkBounds(o, 4, length); a = load32(p, o)
            case .ldH:
                let o = Int(i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
            case .ldB:
                let o = Int(i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); a = load8(p, o)
            case .ldIndW:
                let o = indirectOffset(x, i.k)
                if o &+ 4 > length { return 0 }
                checkBounds(o, 4, length); a = load32(p, o)
            case .ldIndH:
                let o = indirectOffset(x, i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
            case .ldIndB:
                let o = indirectOffset(x, i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); a = load8(p, o)
            case .ldxMsh:
                let o = Int(i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); x = (load8(p, o) & 0xF) << 2

            case .ldProtocol: a = UInt32(env.protocol)
            case .ldInterfaceIndex: a = env.interfaceIndex
            case .ldMark: a = env.mark
            case .ldAncillary:
                a = ancillary(BPFAncillary(rawValue: i.k)!, a, x, p, length, &env)

            case .addK: a = a &+ i.k
            case .subK: a = a &- i.k
            case .mulK: a = a &* i.k
            case .divK: a = a / i.k
            case .modK: a = a % i.k
            case .andK: a = a & i.k
            case .orK: a = a | i.k
            case .xorK: a = a ^ i.k
            case .lshK: a = a &<< i.k
            case .rshK: a = a &>> i.k
            case .addX: a = a &+ x
            case .subX: a = a &- x
            case .mulX: a = a &* x
            case .divX:
                if x == 0 { return 0 }
                a = a / x
            case .modX:
                if x == 0 { return 0 }
                a = a % x
            case .andX: a = a & x
            case .orX: a = a | x
            case .xorX: a = a ^ x
            case .lshX: a = a &<< (x & 31)
            case .rshX: a = a &>> (x & 31)
            case .neg: a = 0 &- a

            case .ja: pc = Int(i.jt)
            case .jeqK: pc = branchy(a == i.k) ? Int(i.jt) : Int(i.jf)
            case .jgtK: pc = branchy(a > i.k) ? Int(i.jt) : Int(i.jf)
            case .jgeK: pc = branchy(a >= i.k) ? Int(i.jt) : Int(i.jf)
            case .jsetK: pc = branchy(a & i.k != 0) ? Int(i.jt) : Int(i.jf)
            case .jeqX: pc = branchy(a == x) ? Int(i.jt) : Int(i.jf)
            case .jgtX: pc = branchy(a > x) ? Int(i.jt) : Int(i.jf)
            case .jgeX: pc = branchy(a >= x) ? Int(i.jt) : Int(i.jf)
            case .jsetX: pc = branchy(a & x != 0) ? Int(i.jt) : Int(i.jf)

            case .ldHJeq:
                let o = Int(i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
                pc = branchy(a == i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldHJgt:
                let o = Int(i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
                pc = branchy(a > i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldHJge:
                let o = Int(i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
                pc = branchy(a >= i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldHJset:
                let o = Int(i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
                pc = branchy(a & i.k2 != 0) ? Int(i.jt) : Int(i.jf)
            case .ldBJeq:
                let o = Int(i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); a = load8(p, o)
                pc = branchy(a == i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldBJgt:
                let o = Int(i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); a = load8(p, o)
                pc = branchy(a > i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldBJge:
                let o = Int(i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); a = load8(p, o)
                pc = branchy(a >= i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldBJset:
                let o = Int(i.k)
                if o >= length { return 0 }
                checkBounds(o, 1, length); a = load8(p, o)
                pc = branchy(a & i.k2 != 0) ? Int(i.jt) : Int(i.jf)
            case .ldWJeq:
                let o = Int(i.k)
                if o &+ 4 > length { return 0 }
                checkBounds(o, 4, length); a = load32(p, o)
                pc = branchy(a == i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldWJgt:
                let o = Int(i.k)
                if o &+ 4 > length { return 0 }
                checkBounds(o, 4, length); a = load32(p, o)
                pc = branchy(a > i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldWJge:
                let o = Int(i.k)
                if o &+ 4 > length { return 0 }
                checkBounds(o, 4, length); a = load32(p, o)
                pc = branchy(a >= i.k2) ? Int(i.jt) : Int(i.jf)
            case .ldWJset:
                let o = Int(i.k)
                if o &+ 4 > length { return 0 }
                checkBounds(o, 4, length); a = load32(p, o)
                pc = branchy(a & i.k2 != 0) ? Int(i.jt) : Int(i.jf)
            case .ldIndHJeq:
                let o = indirectOffset(x, i.k)
                if o &+ 2 > length { return 0 }
                checkBounds(o, 2, length); a = load16(p, o)
                pc = branchy(a == i.k2) ? Int(i.jt) : Int(i.jf)
            }
        }
    }

    /// A jump condition as a real branch: an interpreter's taken/not-taken
    /// pattern is predictable per program, and a conditional move would put
    /// the packet load on the critical path to the next instruction fetch.
    @inline(__always)
    static func branchy(_ c: Bool) -> Bool { _fastPath(c) }

    @inline(__always)
    static func scratchCheck(_ k: UInt32) {
        #if LANA_INTERNAL_CHECKS
        precondition(k < 16, "bpf: scratch index \(k)")
        #endif
    }

    /// Offset of `[x + k]`: `X + k` modulo 2^32, negative values mapped
    /// into the packet as the kernel's `bpf_internal_load_pointer_neg_helper`
    /// does, or an offset beyond any packet if the load must fail.
    @inline(__always)
    static func indirectOffset(_ x: UInt32, _ k: UInt32) -> Int {
        let o = x &+ k
        if o < 0x8000_0000 { return Int(o) }
        return negativeOffset(o)
    }

    /// Where a negative offset (`k >= 2^31`) points, from the frame's start;
    /// `Int.max / 2` for offsets that never point into a packet.
    static func negativeOffset(_ k: UInt32) -> Int {
        if k >= BPFAncillary.networkBase { return networkOffset + Int(k - BPFAncillary.networkBase) }
        if k >= BPFAncillary.linkLayerBase { return Int(k - BPFAncillary.linkLayerBase) }
        return Int.max / 2
    }

    /// Where the network header starts: right after the Ethernet header.
    static let networkOffset = 14

    /// The extensions not handled inline (rarely used; not on the fast path).
    @inline(never)
    static func ancillary(_ which: BPFAncillary, _ a: UInt32, _ x: UInt32, _ p: UnsafeRawPointer, _ length: Int,
                          _ env: inout BPFEnvironment) -> UInt32 {
        switch which {
        case .protocol: return UInt32(env.protocol)
        case .packetType: return UInt32(env.packetType & 7)
        case .interfaceIndex: return env.interfaceIndex
        case .mark: return env.mark
        case .queue: return UInt32(env.queue)
        case .hardwareType: return UInt32(env.hardwareType)
        case .rxHash: return env.rxHash
        case .cpu: return env.cpu
        case .xorX: return a ^ x
        case .vlanTag: return UInt32(env.vlanTCI)
        case .vlanTagPresent: return env.vlanPresent ? 1 : 0
        case .vlanTPID: return UInt32(env.vlanTPID)
        case .random: return env.nextRandom()
        case .payloadOffset:
            return BPFFlowDissector(bytes: UnsafeRawBufferPointer(start: p, count: length))
                .payloadOffset(protocol: env.protocol, networkOffset: Int(env.networkOffset))
        case .netlinkAttribute:
            return BPFNetlinkAttributes.find(UnsafeRawBufferPointer(start: p, count: length), at: a, type: x, nested: false)
        case .netlinkNestedAttribute:
            return BPFNetlinkAttributes.find(UnsafeRawBufferPointer(start: p, count: length), at: a, type: x, nested: true)
        }
    }
}
