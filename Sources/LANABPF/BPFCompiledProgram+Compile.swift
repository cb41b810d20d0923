/// One step of a ``BPFCompiledProgram``: 16 bytes, jump targets absolute.
@usableFromInline
struct BPFCompiledInstruction {
    var op: BPFOperation
    /// Target when the condition holds (and of `ja`), as an instruction index.
    var jt: UInt16
    /// Target when it does not.
    var jf: UInt16
    /// The constant, or the byte offset of a packet load.
    var k: UInt32
    /// The comparison constant of a fused load-and-jump.
    var k2: UInt32

    init(_ op: BPFOperation, k: UInt32 = 0, k2: UInt32 = 0, jt: Int = 0, jf: Int = 0) {
        self.op = op; self.k = k; self.k2 = k2
        self.jt = UInt16(jt); self.jf = UInt16(jf)
    }
}

/// The machine's operations: classic BPF opcodes decoded into one flat set,
/// plus fused "load a header field and compare it with a constant" steps.
@usableFromInline
enum BPFOperation: UInt8, Sendable {
    case retK, retA, fail
    case ldImm, ldxImm, ldLen, ldxLen, ldMem, ldxMem, st, stx, tax, txa
    case ldW, ldH, ldB, ldIndW, ldIndH, ldIndB, ldxMsh
    case ldProtocol, ldInterfaceIndex, ldMark, ldAncillary
    case addK, subK, mulK, divK, modK, andK, orK, xorK, lshK, rshK
    case addX, subX, mulX, divX, modX, andX, orX, xorX, lshX, rshX, neg
    case ja, jeqK, jgtK, jgeK, jsetK, jeqX, jgtX, jgeX, jsetX
    case ldHJeq, ldHJgt, ldHJge, ldHJset
    case ldBJeq, ldBJgt, ldBJge, ldBJset
    case ldWJeq, ldWJgt, ldWJge, ldWJset
    case ldIndHJeq
}

extension BPFCompiledProgram {
    /// Decodes a verified program. Packet offsets of absolute loads are
    /// resolved here: negative ones (`SKF_NET_OFF`, `SKF_LL_OFF` regions)
    /// become plain offsets from the frame's start, ones no packet can reach
    /// become ``BPFOperation/fail``.
    static func compile(_ program: [BPFInstruction], fuse: Bool) -> [BPFCompiledInstruction] {
        var out: [BPFCompiledInstruction] = []
        out.reserveCapacity(program.count)
        for (pc, insn) in program.enumerated() {
            out.append(decode(insn, at: pc))
        }
        return fuse ? fused(out) : out
    }

    /// `steps` with each packet load followed by a conditional jump on a
    /// constant fused into one step.
    static func fused(_ steps: [BPFCompiledInstruction]) -> [BPFCompiledInstruction] {
        var out = steps
        // A packet load followed by a conditional jump on a constant
        // becomes one step at the load's index; the jump keeps its own step
        // for other instructions that jump to it.
        for pc in 0..<max(0, out.count - 1) {
            let next = out[pc + 1]
            let fused: BPFOperation?
            switch (out[pc].op, next.op) {
            case (.ldH, .jeqK): fused = .ldHJeq
            case (.ldH, .jgtK): fused = .ldHJgt
            case (.ldH, .jgeK): fused = .ldHJge
            case (.ldH, .jsetK): fused = .ldHJset
            case (.ldB, .jeqK): fused = .ldBJeq
            case (.ldB, .jgtK): fused = .ldBJgt
            case (.ldB, .jgeK): fused = .ldBJge
            case (.ldB, .jsetK): fused = .ldBJset
            case (.ldW, .jeqK): fused = .ldWJeq
            case (.ldW, .jgtK): fused = .ldWJgt
            case (.ldW, .jgeK): fused = .ldWJge
            case (.ldW, .jsetK): fused = .ldWJset
            case (.ldIndH, .jeqK): fused = .ldIndHJeq
            default: fused = nil
            }
            guard let fused else { continue }
            out[pc] = BPFCompiledInstruction(fused, k: out[pc].k, k2: next.k, jt: Int(next.jt), jf: Int(next.jf))
        }
        return out
    }

    /// ALU operations by the opcode's operation bits: (with k, with X).
    private static let aluOperations: [UInt16: (BPFOperation, BPFOperation)] = [
        BPFOpcode.add: (.addK, .addX), BPFOpcode.sub: (.subK, .subX), BPFOpcode.mul: (.mulK, .mulX),
        BPFOpcode.div: (.divK, .divX), BPFOpcode.mod: (.modK, .modX), BPFOpcode.and: (.andK, .andX),
        BPFOpcode.or: (.orK, .orX), BPFOpcode.xor: (.xorK, .xorX), BPFOpcode.lsh: (.lshK, .lshX),
        BPFOpcode.rsh: (.rshK, .rshX),
    ]
    /// Conditional jumps by the opcode's operation bits: (with k, with X).
    private static let jumpOperations: [UInt16: (BPFOperation, BPFOperation)] = [
        BPFOpcode.jeq: (.jeqK, .jeqX), BPFOpcode.jgt: (.jgtK, .jgtX), BPFOpcode.jge: (.jgeK, .jgeX),
        BPFOpcode.jset: (.jsetK, .jsetX),
    ]

    private static func decode(_ insn: BPFInstruction, at pc: Int) -> BPFCompiledInstruction {
        let O = BPFOpcode.self
        let k = insn.k
        func op(_ o: BPFOperation, _ k: UInt32 = 0) -> BPFCompiledInstruction { BPFCompiledInstruction(o, k: k) }
        func jump(_ o: BPFOperation) -> BPFCompiledInstruction {
            BPFCompiledInstruction(o, k: k, jt: pc + 1 + Int(insn.jt), jf: pc + 1 + Int(insn.jf))
        }
        /// An absolute packet load of `size` bytes at `k`.
        func absolute(_ o: BPFOperation) -> BPFCompiledInstruction {
            if k < 0x8000_0000 { return op(o, k) }
            let offset = negativeOffset(k)
            return offset < Int(UInt32.max) ? op(o, UInt32(offset)) : op(.fail)
        }
        switch insn.code {
        case O.ret | O.retK: return op(.retK, k)
        case O.ret | O.retA: return op(.retA)
        case O.ld | O.imm: return op(.ldImm, k)
        case O.ldx | O.imm: return op(.ldxImm, k)
        case O.ld | O.w | O.len: return op(.ldLen)
        case O.ldx | O.w | O.len: return op(.ldxLen)
        case O.ld | O.mem: return op(.ldMem, k)
        case O.ldx | O.mem: return op(.ldxMem, k)
        case O.st: return op(.st, k)
        case O.stx: return op(.stx, k)
        case O.misc | O.tax: return op(.tax)
        case O.misc | O.txa: return op(.txa)
        case O.ld | O.w | O.abs, O.ld | O.h | O.abs, O.ld | O.b | O.abs:
            if let ext = BPFAncillary(offset: k) {
                switch ext {
                case .protocol: return op(.ldProtocol)
                case .interfaceIndex: return op(.ldInterfaceIndex)
                case .mark: return op(.ldMark)
                default: return op(.ldAncillary, ext.rawValue)
                }
            }
            let size = insn.code & 0x18
            return absolute(size == O.w ? .ldW : size == O.h ? .ldH : .ldB)
        case O.ld | O.w | O.ind: return op(.ldIndW, k)
        case O.ld | O.h | O.ind: return op(.ldIndH, k)
        case O.ld | O.b | O.ind: return op(.ldIndB, k)
        case O.ldx | O.b | O.msh: return absolute(.ldxMsh)
        case O.alu | O.neg: return op(.neg)
        case O.jmp | O.ja: return BPFCompiledInstruction(.ja, jt: pc + 1 + Int(k))
        default: break
        }
        let isX = insn.code & O.x != 0
        switch insn.code & 0x07 {
        case O.alu:
            if let (kOp, xOp) = aluOperations[insn.code & 0xF0] { return isX ? op(xOp) : op(kOp, k) }
        case O.jmp:
            if let (kOp, xOp) = jumpOperations[insn.code & 0xF0] { return jump(isX ? xOp : kOp) }
        default: break
        }
        preconditionFailure("BPFCompiledProgram: opcode 0x\(String(insn.code, radix: 16)) in a verified program")
    }
}
