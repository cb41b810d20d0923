/// Checks a classic BPF program with the Linux kernel's rules, so that a
/// program LANA accepts is one `SO_ATTACH_FILTER` accepts and vice versa.
///
/// The rules are those of the kernel's `bpf_check_classic` and
/// `check_load_and_stores` (net/core/filter.c), in their order:
///
/// 1. 1 to 4096 instructions.
/// 2. Per instruction, first to last: the opcode is one the socket filter
///    knows (`ret x`, for instance, is not); no division or modulo by a
///    constant 0; no shift by a constant of 32 or more; scratch indices
///    below 16; every jump lands inside the program; an absolute load at or
///    above `SKF_AD_OFF` names a known extension.
/// 3. The last instruction is `ret #k` or `ret a`.
/// 4. No instruction reads scratch memory `M[k]` that some path to it may
///    not have written (the kernel's conservative data-flow pass: at a jump
///    target, the cells valid on every incoming jump and the fall-through).
///
/// Jumps in classic BPF can only go forward (their offsets are unsigned), so
/// every accepted program terminates after at most as many steps as it has
/// instructions. The first violation found is reported with the index of
/// the instruction (0-based, as `tcpdump -d` numbers them) and the reason.
public enum BPFVerifier {
    /// `BPF_MAXINSNS`.
    public static let maximumLength = 4096
    /// `BPF_MEMWORDS`: cells of scratch memory.
    public static let scratchWords: UInt32 = 16

    /// Returns normally if the kernel would accept `program`.
    public static func verify(_ program: [BPFInstruction]) throws(BPFVerificationError) {
        let n = program.count
        if n == 0 { throw BPFVerificationError(instruction: nil, .empty) }
        if n > maximumLength { throw BPFVerificationError(instruction: nil, .tooLong(n)) }

        for (pc, insn) in program.enumerated() {
            func fail(_ reason: BPFVerificationError.Reason) -> BPFVerificationError {
                BPFVerificationError(instruction: pc, reason, insn)
            }
            guard isAllowed(insn.code) else { throw fail(.invalidOpcode(insn.code)) }
            switch insn.code {
            case BPFOpcode.alu | BPFOpcode.div | BPFOpcode.k, BPFOpcode.alu | BPFOpcode.mod | BPFOpcode.k:
                if insn.k == 0 { throw fail(.divisionByZero) }
            case BPFOpcode.alu | BPFOpcode.lsh | BPFOpcode.k, BPFOpcode.alu | BPFOpcode.rsh | BPFOpcode.k:
                if insn.k >= 32 { throw fail(.shiftTooLarge(insn.k)) }
            case BPFOpcode.ld | BPFOpcode.mem, BPFOpcode.ldx | BPFOpcode.mem, BPFOpcode.st, BPFOpcode.stx:
                if insn.k >= scratchWords { throw fail(.scratchIndex(insn.k)) }
            case BPFOpcode.jmp | BPFOpcode.ja:
                if insn.k >= UInt32(n - pc - 1) {
                    throw fail(.jumpOutOfRange(target: pc + 1 + Int(insn.k), count: n))
                }
            case _ where insn.isConditionalJump:
                let jt = pc + 1 + Int(insn.jt), jf = pc + 1 + Int(insn.jf)
                if jt >= n { throw fail(.jumpOutOfRange(target: jt, count: n)) }
                if jf >= n { throw fail(.jumpOutOfRange(target: jf, count: n)) }
            case BPFOpcode.ld | BPFOpcode.w | BPFOpcode.abs, BPFOpcode.ld | BPFOpcode.h | BPFOpcode.abs,
                 BPFOpcode.ld | BPFOpcode.b | BPFOpcode.abs:
                if insn.k >= BPFAncillary.base && BPFAncillary(offset: insn.k) == nil {
                    throw fail(.unknownExtension(insn.k))
                }
            default:
                break
            }
        }

        let last = program[n - 1]
        guard last.code == BPFOpcode.ret | BPFOpcode.retK || last.code == BPFOpcode.ret | BPFOpcode.retA else {
            throw BPFVerificationError(instruction: n - 1, .lastNotReturn, last)
        }
        try checkScratchInitialization(program)
    }

    /// The kernel's `check_load_and_stores`: one forward pass with a bit
    /// mask of valid cells; a jump narrows its targets' masks to what is
    /// valid at the jump, and the cell set after a jump restarts as "all"
    /// (the next instruction is reached only through its own mask).
    static func checkScratchInitialization(_ program: [BPFInstruction]) throws(BPFVerificationError) {
        var masks = [UInt16](repeating: 0xFFFF, count: program.count)
        var valid: UInt16 = 0
        for (pc, insn) in program.enumerated() {
            valid &= masks[pc]
            switch insn.code {
            case BPFOpcode.st, BPFOpcode.stx:
                valid |= 1 << UInt16(insn.k)
            case BPFOpcode.ld | BPFOpcode.mem, BPFOpcode.ldx | BPFOpcode.mem:
                if valid & (1 << UInt16(insn.k)) == 0 {
                    throw BPFVerificationError(instruction: pc, .uninitializedScratch(insn.k), insn)
                }
            case BPFOpcode.jmp | BPFOpcode.ja:
                masks[pc + 1 + Int(insn.k)] &= valid
                valid = 0xFFFF
            case _ where insn.isConditionalJump:
                masks[pc + 1 + Int(insn.jt)] &= valid
                masks[pc + 1 + Int(insn.jf)] &= valid
                valid = 0xFFFF
            default:
                break
            }
        }
    }

    /// Whether the socket filter knows `code` (the kernel's `chk_code_allowed`).
    public static func isAllowed(_ code: UInt16) -> Bool {
        code < 256 && allowed[Int(code)]
    }

    private static let allowed: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        let O = BPFOpcode.self
        var codes: [UInt16] = [
            O.ld | O.w | O.abs, O.ld | O.h | O.abs, O.ld | O.b | O.abs, O.ld | O.w | O.len,
            O.ld | O.w | O.ind, O.ld | O.h | O.ind, O.ld | O.b | O.ind, O.ld | O.imm, O.ld | O.mem,
            O.ldx | O.w | O.len, O.ldx | O.b | O.msh, O.ldx | O.imm, O.ldx | O.mem,
            O.st, O.stx, O.misc | O.tax, O.misc | O.txa, O.ret | O.retK, O.ret | O.retA,
            O.alu | O.neg, O.jmp | O.ja,
        ]
        for op in [O.add, O.sub, O.mul, O.div, O.mod, O.and, O.or, O.xor, O.lsh, O.rsh] {
            codes += [O.alu | op | O.k, O.alu | op | O.x]
        }
        for op in [O.jeq, O.jge, O.jgt, O.jset] {
            codes += [O.jmp | op | O.k, O.jmp | op | O.x]
        }
        for c in codes { table[Int(c)] = true }
        return table
    }()
}

/// Why a program was refused, and where.
public struct BPFVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case empty
        case tooLong(Int)
        case invalidOpcode(UInt16)
        case divisionByZero
        case shiftTooLarge(UInt32)
        case scratchIndex(UInt32)
        case jumpOutOfRange(target: Int, count: Int)
        case unknownExtension(UInt32)
        case lastNotReturn
        case uninitializedScratch(UInt32)
    }

    /// Index of the offending instruction (0-based), `nil` for the program
    /// as a whole.
    public let instruction: Int?
    public let reason: Reason
    /// The offending instruction itself.
    public let offending: BPFInstruction?

    public init(instruction: Int?, _ reason: Reason, _ offending: BPFInstruction? = nil) {
        self.instruction = instruction; self.reason = reason; self.offending = offending
    }

    public var reasonText: String {
        switch reason {
        case .empty: return "the program is empty (at least 1 instruction)"
        case .tooLong(let n): return "the program has \(n) instructions (at most \(BPFVerifier.maximumLength))"
        case .invalidOpcode(let c):
            return "opcode 0x\(String(c, radix: 16)) is not a classic BPF socket filter instruction"
        case .divisionByZero: return "division by constant 0"
        case .shiftTooLarge(let k): return "shift by constant \(k) (at most 31)"
        case .scratchIndex(let k): return "scratch memory index \(k) (M[0] to M[15])"
        case .jumpOutOfRange(let target, let count):
            return "jump to instruction \(target), past the last one (\(count - 1))"
        case .unknownExtension(let k):
            return "unknown Linux extension offset \(Int32(bitPattern: k)) (SKF_AD_OFF + \(Int(k) - Int(BPFAncillary.base)))"
        case .lastNotReturn: return "the last instruction is not a return (ret #k or ret a)"
        case .uninitializedScratch(let k): return "reads M[\(k)] before every path to it has written it"
        }
    }

    public var description: String {
        guard let instruction else { return reasonText }
        if let offending {
            let image = BPFDisassembler.image(offending, at: instruction)
            return "instruction \(instruction) (\(image)): \(reasonText)"
        }
        return "instruction \(instruction): \(reasonText)"
    }
}
