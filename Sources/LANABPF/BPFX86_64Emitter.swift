// Unsafe code: generates x86-64 machine code that BPFNativeCode runs.
//
// Invariants (what the generated function does, for a verified program)
// - Registers: A in eax, X in ecx, the packet in rdi, its length in rsi
//   (below 2^31), the environment in r8, scratch memory in r10; edx and
//   r11 are temporaries. The function uses no stack except around the
//   helper call (five pushes, which keep rsp 16-byte aligned for it) and
//   touches no callee-saved register.
// - Every packet load compares `offset + size` with the length before
//   reading, in 64-bit arithmetic; a failed check jumps to the shared exit
//   that returns 0. Constant offsets are resolved at compile time (an
//   offset no packet shorter than 2^31 bytes can reach becomes that jump);
//   `[x + k]` computes `X + k` modulo 2^32 and maps negative offsets as the
//   interpreter's `indirectOffset` does.
// - Scratch accesses use the verified index (< 16) as a displacement from
//   r10; environment reads use `MemoryLayout<BPFEnvironment>` offsets.
// - Division and modulo by X test X first and return 0 when it is 0; by a
//   constant, the verifier has excluded 0.
// - Jumps go only forward, to the first byte of another instruction's code
//   or to the exit (all rel32, patched once every instruction's address is
//   known); the last instruction returns, so execution never runs off the
//   end.

/// Classic BPF to x86-64 (System V calling convention).
enum BPFX86_64Emitter: BPFNativeEmitter {
    static func emit(_ steps: [BPFCompiledInstruction]) -> [UInt8]? {
        var e = Assembler(capacity: steps.count * 16 + 64)
        e.prologue(usesEnvironment: steps.contains { $0.op.readsEnvironment },
                   usesScratch: steps.contains { $0.op.usesScratch })
        var starts = [Int](repeating: 0, count: steps.count)
        for (pc, step) in steps.enumerated() {
            starts[pc] = e.code.count
            e.instruction(step, at: pc, steps)
        }
        let exit = e.code.count
        e.bytes(0x31, 0xC0, 0xC3)  // xor eax, eax; ret
        for fixup in e.fixups {
            let target = fixup.target == Assembler.exitTarget ? exit : starts[fixup.target]
            let rel = Int32(target - (fixup.at + 4))
            withUnsafeBytes(of: rel.littleEndian) { raw in
                for i in 0..<4 { e.code[fixup.at + i] = raw[i] }
            }
        }
        return e.code
    }

    /// Offsets of the environment's fields, for loads from r8.
    static let environment = (
        protocol: MemoryLayout<BPFEnvironment>.offset(of: \.protocol)!,
        packetType: MemoryLayout<BPFEnvironment>.offset(of: \.packetType)!,
        interfaceIndex: MemoryLayout<BPFEnvironment>.offset(of: \.interfaceIndex)!,
        mark: MemoryLayout<BPFEnvironment>.offset(of: \.mark)!,
        queue: MemoryLayout<BPFEnvironment>.offset(of: \.queue)!,
        hardwareType: MemoryLayout<BPFEnvironment>.offset(of: \.hardwareType)!,
        rxHash: MemoryLayout<BPFEnvironment>.offset(of: \.rxHash)!,
        cpu: MemoryLayout<BPFEnvironment>.offset(of: \.cpu)!,
        vlanTCI: MemoryLayout<BPFEnvironment>.offset(of: \.vlanTCI)!,
        vlanPresent: MemoryLayout<BPFEnvironment>.offset(of: \.vlanPresent)!,
        vlanTPID: MemoryLayout<BPFEnvironment>.offset(of: \.vlanTPID)!
    )

    /// Bytes being generated, and the jumps still to patch.
    struct Assembler {
        var code: [UInt8] = []
        /// rel32 fields at `at`, to point at instruction `target` (or the exit).
        var fixups: [(at: Int, target: Int)] = []
        static let exitTarget = -1

        init(capacity: Int) { code.reserveCapacity(capacity) }

        // Fixed arities rather than a variadic parameter, which would
        // allocate an array per call (compile time counts: see the README).
        mutating func bytes(_ a: UInt8) { code.append(a) }
        mutating func bytes(_ a: UInt8, _ b: UInt8) { code.append(a); code.append(b) }
        mutating func bytes(_ a: UInt8, _ b: UInt8, _ c: UInt8) { bytes(a, b); code.append(c) }
        mutating func bytes(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { bytes(a, b); bytes(c, d) }
        mutating func bytes(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8) { bytes(a, b, c, d); code.append(e) }
        mutating func bytes(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
            bytes(a, b, c, d); bytes(e, f)
        }
        mutating func bytes(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8, _ g: UInt8) {
            bytes(a, b, c, d); bytes(e, f, g)
        }
        mutating func bytes(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8, _ g: UInt8, _ h: UInt8) {
            bytes(a, b, c, d); bytes(e, f, g, h)
        }
        mutating func imm32(_ v: UInt32) {
            code.append(UInt8(truncatingIfNeeded: v)); code.append(UInt8(truncatingIfNeeded: v >> 8))
            code.append(UInt8(truncatingIfNeeded: v >> 16)); code.append(UInt8(truncatingIfNeeded: v >> 24))
        }
        mutating func imm64(_ v: UInt64) { imm32(UInt32(truncatingIfNeeded: v)); imm32(UInt32(truncatingIfNeeded: v >> 32)) }

        /// A rel32 to `target`, patched later.
        mutating func rel32(to target: Int) {
            fixups.append((code.count, target))
            imm32(0)
        }
        mutating func jmp(to target: Int) { bytes(0xE9); rel32(to: target) }
        /// `j<cc>` with `cc` the low nibble of the 0F 8x opcode.
        mutating func jcc(_ cc: UInt8, to target: Int) { bytes(0x0F, 0x80 | cc); rel32(to: target) }
        mutating func fail(unless cc: UInt8) { jcc(cc ^ 1, to: Self.exitTarget) }

        mutating func prologue(usesEnvironment: Bool, usesScratch: Bool) {
            if usesEnvironment { bytes(0x49, 0x89, 0xD0) }  // mov r8, rdx
            if usesScratch { bytes(0x49, 0x89, 0xCA) }      // mov r10, rcx
            bytes(0x31, 0xC0, 0x31, 0xC9)                   // xor eax, eax; xor ecx, ecx
        }

        /// Checks that `length >= end` for a constant `end`.
        mutating func checkLength(atLeast end: Int) {
            bytes(0x48, 0x81, 0xFE); imm32(UInt32(end))     // cmp rsi, end
            fail(unless: Condition.aboveOrEqual)
        }

        /// `reg = load(size, [rdi + offset])`, big-endian, zero-extended;
        /// `reg` is 0 (eax) or 1 (ecx).
        mutating func loadAbsolute(size: Int, offset: Int, into reg: UInt8 = 0) {
            if offset + size > Int(Int32.max) {  // beyond any packet
                jmp(to: Self.exitTarget)
                return
            }
            checkLength(atLeast: offset + size)
            let modrm = 0x87 | reg << 3  // [rdi + disp32]
            switch size {
            case 4: bytes(0x8B, modrm); imm32(UInt32(offset)); bytes(0x0F, 0xC8 | reg)   // mov; bswap
            case 2: bytes(0x0F, 0xB7, modrm); imm32(UInt32(offset)); bytes(0x66, 0xC1, 0xC0 | reg, 8)  // movzx; rol 8
            default: bytes(0x0F, 0xB6, modrm); imm32(UInt32(offset))  // movzx byte
            }
        }

        /// `A = load(size, [x + k])`.
        mutating func loadIndirect(size: Int, k: UInt32) {
            bytes(0x8D, 0x91); imm32(k)                 // lea edx, [rcx + k]   (X + k mod 2^32)
            bytes(0x85, 0xD2)                           // test edx, edx
            bytes(0x79, 0x22)                           // jns ok              (+34)
            bytes(0x81, 0xFA); imm32(BPFAncillary.networkBase)     // cmp edx, SKF_NET_OFF   6
            bytes(0x73, 0x14)                           // jae net             (+20)      2
            bytes(0x81, 0xFA); imm32(BPFAncillary.linkLayerBase)   // cmp edx, SKF_LL_OFF    6
            fail(unless: Condition.aboveOrEqual)        //                                6
            bytes(0x81, 0xC2); imm32(0 &- BPFAncillary.linkLayerBase)  // add edx, -SKF_LL_OFF 6
            bytes(0xEB, 0x06)                           // jmp ok                         2
            // net:
            bytes(0x81, 0xC2); imm32((0 &- BPFAncillary.networkBase) &+ UInt32(BPFCompiledProgram.networkOffset))  // 6
            // ok: rdx = offset (zero-extended)
            bytes(0x4C, 0x8D, 0x5A, UInt8(size))        // lea r11, [rdx + size]
            bytes(0x49, 0x39, 0xF3)                     // cmp r11, rsi
            fail(unless: Condition.belowOrEqual)
            switch size {
            case 4: bytes(0x8B, 0x04, 0x17, 0x0F, 0xC8)                   // mov eax, [rdi + rdx]; bswap eax
            case 2: bytes(0x0F, 0xB7, 0x04, 0x17, 0x66, 0xC1, 0xC0, 8)    // movzx eax, word; rol ax, 8
            default: bytes(0x0F, 0xB6, 0x04, 0x17)                        // movzx eax, byte
            }
        }

        /// `A = env.field` of `size` bytes at `offset` from r8.
        mutating func loadEnvironment(_ offset: Int, size: Int) {
            precondition(offset < 128, "BPFEnvironment field beyond a disp8")
            switch size {
            case 4: bytes(0x41, 0x8B, 0x40, UInt8(offset))
            case 2: bytes(0x41, 0x0F, 0xB7, 0x40, UInt8(offset))
            default: bytes(0x41, 0x0F, 0xB6, 0x40, UInt8(offset))
            }
        }

        /// `A = helper(which, A, X, packet, length, env)`, preserving the
        /// machine's registers.
        mutating func callHelper(_ which: BPFAncillary) {
            bytes(0x57, 0x56, 0x41, 0x50, 0x41, 0x52, 0x51)  // push rdi, rsi, r8, r10, rcx
            bytes(0x4D, 0x89, 0xC1)                          // mov r9, r8     env
            bytes(0x49, 0x89, 0xF0)                          // mov r8, rsi    length
            bytes(0x89, 0xCA)                                // mov edx, ecx   X
            bytes(0x48, 0x89, 0xF9)                          // mov rcx, rdi   packet
            bytes(0x89, 0xC6)                                // mov esi, eax   A
            bytes(0xBF); imm32(which.rawValue)               // mov edi, which
            bytes(0x48, 0xB8); imm64(BPFNativeCode.helperAddress)  // mov rax, helper
            bytes(0xFF, 0xD0)                                // call rax
            bytes(0x59, 0x41, 0x5A, 0x41, 0x58, 0x5E, 0x5F)  // pop rcx, r10, r8, rsi, rdi
        }

        /// A return of constant `k`.
        mutating func returnConstant(_ k: UInt32) {
            if k == 0 { bytes(0x31, 0xC0) } else { bytes(0xB8); imm32(k) }
            bytes(0xC3)
        }

        /// Goes to `target` from instruction `pc`: nothing if it is the
        /// next one, the return itself if it is a `ret #k`.
        mutating func goTo(_ target: Int, from pc: Int, _ steps: [BPFCompiledInstruction]) {
            if target == pc + 1 { return }
            if steps[target].op == .retK { returnConstant(steps[target].k); return }
            jmp(to: target)
        }

        /// A conditional jump on the flags just set: `cc` holds for `jt`.
        mutating func branch(_ cc: UInt8, _ step: BPFCompiledInstruction, at pc: Int, _ steps: [BPFCompiledInstruction]) {
            let jt = Int(step.jt), jf = Int(step.jf)
            if jt == jf { goTo(jt, from: pc, steps); return }
            if jt == pc + 1 {
                jcc(cc ^ 1, to: jf)
            } else {
                jcc(cc, to: jt)
                goTo(jf, from: pc, steps)
            }
        }

        // swiftlint:disable:next function_body_length cyclomatic_complexity
        mutating func instruction(_ s: BPFCompiledInstruction, at pc: Int, _ steps: [BPFCompiledInstruction]) {
            let k = s.k
            let env = BPFX86_64Emitter.environment
            switch s.op {
            case .retK: returnConstant(k)
            case .retA: bytes(0xC3)
            case .fail: jmp(to: Self.exitTarget)

            case .ldImm: bytes(0xB8); imm32(k)                       // mov eax, k
            case .ldxImm: bytes(0xB9); imm32(k)                      // mov ecx, k
            case .ldLen: bytes(0x89, 0xF0)                           // mov eax, esi
            case .ldxLen: bytes(0x89, 0xF1)                          // mov ecx, esi
            case .ldMem: bytes(0x41, 0x8B, 0x42, UInt8(k * 4))       // mov eax, [r10 + 4k]
            case .ldxMem: bytes(0x41, 0x8B, 0x4A, UInt8(k * 4))      // mov ecx, [r10 + 4k]
            case .st: bytes(0x41, 0x89, 0x42, UInt8(k * 4))          // mov [r10 + 4k], eax
            case .stx: bytes(0x41, 0x89, 0x4A, UInt8(k * 4))         // mov [r10 + 4k], ecx
            case .tax: bytes(0x89, 0xC1)                             // mov ecx, eax
            case .txa: bytes(0x89, 0xC8)                             // mov eax, ecx

            case .ldW: loadAbsolute(size: 4, offset: Int(k))
            case .ldH: loadAbsolute(size: 2, offset: Int(k))
            case .ldB: loadAbsolute(size: 1, offset: Int(k))
            case .ldIndW: loadIndirect(size: 4, k: k)
            case .ldIndH: loadIndirect(size: 2, k: k)
            case .ldIndB: loadIndirect(size: 1, k: k)
            case .ldxMsh:
                loadAbsolute(size: 1, offset: Int(k), into: 1)
                if Int(k) + 1 <= Int(Int32.max) { bytes(0x83, 0xE1, 0x0F, 0xC1, 0xE1, 0x02) }  // and ecx, 15; shl ecx, 2

            case .ldProtocol: loadEnvironment(env.protocol, size: 2)
            case .ldInterfaceIndex: loadEnvironment(env.interfaceIndex, size: 4)
            case .ldMark: loadEnvironment(env.mark, size: 4)
            case .ldAncillary:
                switch BPFAncillary(rawValue: k)! {
                case .protocol: loadEnvironment(env.protocol, size: 2)
                case .packetType: loadEnvironment(env.packetType, size: 1); bytes(0x83, 0xE0, 0x07)  // and eax, 7
                case .interfaceIndex: loadEnvironment(env.interfaceIndex, size: 4)
                case .mark: loadEnvironment(env.mark, size: 4)
                case .queue: loadEnvironment(env.queue, size: 2)
                case .hardwareType: loadEnvironment(env.hardwareType, size: 2)
                case .rxHash: loadEnvironment(env.rxHash, size: 4)
                case .cpu: loadEnvironment(env.cpu, size: 4)
                case .xorX: bytes(0x31, 0xC8)                        // xor eax, ecx
                case .vlanTag: loadEnvironment(env.vlanTCI, size: 2)
                case .vlanTagPresent: loadEnvironment(env.vlanPresent, size: 1)
                case .vlanTPID: loadEnvironment(env.vlanTPID, size: 2)
                case .random, .payloadOffset, .netlinkAttribute, .netlinkNestedAttribute:
                    callHelper(BPFAncillary(rawValue: k)!)
                }

            case .addK: bytes(0x05); imm32(k)
            case .subK: bytes(0x2D); imm32(k)
            case .mulK: bytes(0x69, 0xC0); imm32(k)                  // imul eax, eax, k
            case .divK:
                if k & (k &- 1) == 0 {
                    if k > 1 { bytes(0xC1, 0xE8, UInt8(k.trailingZeroBitCount)) }  // shr eax, log2 k
                } else {
                    bytes(0x31, 0xD2, 0x41, 0xBB); imm32(k); bytes(0x41, 0xF7, 0xF3)  // xor edx, edx; mov r11d, k; div r11d
                }
            case .modK:
                if k & (k &- 1) == 0 {
                    bytes(0x25); imm32(k &- 1)                       // and eax, k - 1
                } else {
                    bytes(0x31, 0xD2, 0x41, 0xBB); imm32(k); bytes(0x41, 0xF7, 0xF3, 0x89, 0xD0)  // …; mov eax, edx
                }
            case .andK: bytes(0x25); imm32(k)
            case .orK: bytes(0x0D); imm32(k)
            case .xorK: bytes(0x35); imm32(k)
            case .lshK: bytes(0xC1, 0xE0, UInt8(k & 31))
            case .rshK: bytes(0xC1, 0xE8, UInt8(k & 31))
            case .addX: bytes(0x01, 0xC8)
            case .subX: bytes(0x29, 0xC8)
            case .mulX: bytes(0x0F, 0xAF, 0xC1)                      // imul eax, ecx
            case .divX, .modX:
                bytes(0x85, 0xC9)                                    // test ecx, ecx
                fail(unless: Condition.notZero)
                bytes(0x31, 0xD2, 0xF7, 0xF1)                        // xor edx, edx; div ecx
                if s.op == .modX { bytes(0x89, 0xD0) }               // mov eax, edx
            case .andX: bytes(0x21, 0xC8)
            case .orX: bytes(0x09, 0xC8)
            case .xorX: bytes(0x31, 0xC8)
            case .lshX: bytes(0xD3, 0xE0)                            // shl eax, cl (count & 31)
            case .rshX: bytes(0xD3, 0xE8)
            case .neg: bytes(0xF7, 0xD8)

            case .ja: goTo(Int(s.jt), from: pc, steps)
            case .jeqK, .jgtK, .jgeK:
                if k == 0 { bytes(0x85, 0xC0) } else { bytes(0x3D); imm32(k) }  // test eax, eax / cmp eax, k
                branch(s.op == .jeqK ? Condition.zero : s.op == .jgtK ? Condition.above : Condition.aboveOrEqual, s, at: pc, steps)
            case .jsetK: bytes(0xA9); imm32(k); branch(Condition.notZero, s, at: pc, steps)  // test eax, k
            case .jeqX: bytes(0x39, 0xC8); branch(Condition.zero, s, at: pc, steps)          // cmp eax, ecx
            case .jgtX: bytes(0x39, 0xC8); branch(Condition.above, s, at: pc, steps)
            case .jgeX: bytes(0x39, 0xC8); branch(Condition.aboveOrEqual, s, at: pc, steps)
            case .jsetX: bytes(0x85, 0xC8); branch(Condition.notZero, s, at: pc, steps)      // test eax, ecx

            case .ldHJeq, .ldHJgt, .ldHJge, .ldHJset, .ldBJeq, .ldBJgt, .ldBJge, .ldBJset,
                 .ldWJeq, .ldWJgt, .ldWJge, .ldWJset, .ldIndHJeq:
                preconditionFailure("BPFX86_64Emitter: fused step \(s.op) (the emitter takes unfused steps)")
            }
        }
    }

    /// Condition codes (the low nibble of `0F 8x`); `cc ^ 1` negates.
    enum Condition {
        static let below: UInt8 = 0x2
        static let aboveOrEqual: UInt8 = 0x3
        static let zero: UInt8 = 0x4
        static let notZero: UInt8 = 0x5
        static let belowOrEqual: UInt8 = 0x6
        static let above: UInt8 = 0x7
    }
}

extension BPFOperation {
    /// Whether the step reads the ``BPFEnvironment`` (or calls the helper).
    var readsEnvironment: Bool {
        self == .ldProtocol || self == .ldInterfaceIndex || self == .ldMark || self == .ldAncillary
    }

    /// Whether the step reads or writes `M[]`.
    var usesScratch: Bool { self == .ldMem || self == .ldxMem || self == .st || self == .stx }
}
