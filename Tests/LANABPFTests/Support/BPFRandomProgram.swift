import LANABPF
import LANATestSupport


/// Random programs the verifier accepts, for differential and property
/// tests.
///
/// `.pcap` programs stay inside what libpcap's `bpf_filter` and the Linux
/// socket filter agree on: no extensions, no negative offsets, `[x + k]`
/// only with a small X, shifts by X only below 32. `.linux` programs use
/// everything the kernel accepts.
struct BPFRandomProgram {
    enum Dialect { case pcap, linux }

    /// Extensions whose value the kernel test can predict.
    static let deterministicExtensions: [BPFAncillary] = [
        .protocol, .packetType, .interfaceIndex, .netlinkAttribute, .netlinkNestedAttribute, .mark,
        .queue, .hardwareType, .xorX, .vlanTag, .vlanTagPresent, .payloadOffset, .vlanTPID,
    ]

    var dialect: Dialect
    /// Extensions a `.linux` program may read.
    var extensions: [BPFAncillary] = deterministicExtensions

    /// A program of `count` instructions (at least 2).
    func make<G: RandomNumberGenerator>(count: Int, using rng: inout G) -> [BPFInstruction] {
        let O = BPFOpcode.self
        var out: [BPFInstruction] = []
        // Cells written up front may be read anywhere; the verifier's flow
        // analysis is exercised by the kernel comparison of random soup.
        var written: [UInt32] = []
        for cell in 0..<UInt32(16) where Bool.random(using: &rng) && Int.random(in: 0..<4, using: &rng) == 0 {
            out.append(BPFInstruction(code: Bool.random(using: &rng) ? O.st : O.stx, k: cell))
            written.append(cell)
        }
        // Second halves of "set X, then use it" pairs: no jump may land
        // there, or X would not be the small value libpcap needs.
        var glued = Set<Int>()
        while out.count < count - 1 {
            let next = instruction(at: out.count, count: count, written: written, using: &rng)
            if next.count == 2 && dialect == .pcap { glued.insert(out.count + 1) }
            out += next
        }
        out = Array(out.prefix(count - 1))
        // A jump emitted near the end may target past the cut: retarget.
        func fixed(_ offset: Int, from i: Int) -> Int {
            let clamped = min(offset, count - 1 - i - 1)
            return glued.contains(i + 1 + clamped) ? clamped - 1 : clamped
        }
        for i in out.indices {
            if out[i].code == O.jmp | O.ja {
                out[i].k = UInt32(fixed(Int(out[i].k), from: i))
            } else if out[i].isConditionalJump {
                out[i].jt = UInt8(fixed(Int(out[i].jt), from: i))
                out[i].jf = UInt8(fixed(Int(out[i].jf), from: i))
            }
        }
        out.append(Bool.random(using: &rng) ? BPFInstruction(code: O.ret | O.retA)
                                             : BPFInstruction(code: O.ret | O.retK, k: returnValue(using: &rng)))
        return out
    }

    func returnValue<G: RandomNumberGenerator>(using rng: inout G) -> UInt32 {
        [0, 0, 1, 0xFFFF, 0xFFFF_FFFF, 42, UInt32.random(in: 0...1600, using: &rng)].randomElement(using: &rng)!
    }

    /// A packet offset: mostly inside headers, sometimes past any frame.
    func offset<G: RandomNumberGenerator>(using rng: inout G) -> UInt32 {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<6: return UInt32.random(in: 0..<64, using: &rng)
        case 6, 7: return UInt32.random(in: 0..<1600, using: &rng)
        case 8: return [0x7FFF_FFFF, 0xFFFF, 0x1_0000, 1514, 1515].randomElement(using: &rng)!
        default:
            guard dialect == .linux else { return UInt32.random(in: 0..<100_000, using: &rng) }
            // SKF_NET_OFF and SKF_LL_OFF regions, and negative offsets that fail.
            return [BPFAncillary.networkBase &+ UInt32.random(in: 0..<48, using: &rng),
                    BPFAncillary.linkLayerBase &+ UInt32.random(in: 0..<64, using: &rng),
                    BPFAncillary.base &- 16, 0x8000_0000, BPFAncillary.networkBase &- 1].randomElement(using: &rng)!
        }
    }

    func constant<G: RandomNumberGenerator>(using rng: inout G) -> UInt32 {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return 0
        case 1: return UInt32.random(in: 0..<16, using: &rng)
        case 2: return [0x800, 0x86DD, 0x806, 0x8100, 6, 17, 0x45, 0x1FFF].randomElement(using: &rng)!
        case 3: return 0xFFFF_FFFF &- UInt32.random(in: 0..<4, using: &rng)
        default: return UInt32.random(in: 0...UInt32.max, using: &rng)
        }
    }

    // swiftlint:disable:next function_body_length
    func instruction<G: RandomNumberGenerator>(at pc: Int, count: Int, written: [UInt32],
                                               using rng: inout G) -> [BPFInstruction] {
        let O = BPFOpcode.self
        let sizes = [O.w, O.h, O.b]
        func jumpOffset() -> UInt8 {
            let room = min(255, count - 1 - pc - 1)
            guard room > 0 else { return 0 }
            return UInt8(Int.random(in: 0...min(room, Bool.random(using: &rng) ? 3 : room), using: &rng))
        }
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<14:
            return [BPFInstruction(code: O.ld | sizes.randomElement(using: &rng)! | O.abs, k: offset(using: &rng))]
        case 14..<20:
            // [x + k]; in the libpcap dialect X is set right before, small.
            let load = BPFInstruction(code: O.ld | sizes.randomElement(using: &rng)! | O.ind,
                                      k: UInt32.random(in: 0..<80, using: &rng))
            if dialect == .pcap {
                let setX = Bool.random(using: &rng)
                    ? BPFInstruction(code: O.ldx | O.imm, k: UInt32.random(in: 0..<80, using: &rng))
                    : BPFInstruction(code: O.ldx | O.b | O.msh, k: UInt32.random(in: 0..<40, using: &rng))
                return [setX, load]
            }
            var insn = load
            if Int.random(in: 0..<4, using: &rng) == 0 { insn.k = offset(using: &rng) }
            return [insn]
        case 20..<23:
            return [BPFInstruction(code: O.ldx | O.b | O.msh, k: dialect == .pcap ? UInt32.random(in: 0..<80, using: &rng) : offset(using: &rng))]
        case 23..<27:
            return [BPFInstruction(code: [O.ld | O.imm, O.ldx | O.imm].randomElement(using: &rng)!, k: constant(using: &rng))]
        case 27..<29:
            return [BPFInstruction(code: [O.ld | O.w | O.len, O.ldx | O.w | O.len].randomElement(using: &rng)!)]
        case 29..<33:
            if let cell = written.randomElement(using: &rng) {
                return [BPFInstruction(code: Bool.random(using: &rng) ? O.ld | O.mem : O.ldx | O.mem, k: cell)]
            }
            return [BPFInstruction(code: O.misc | O.tax)]
        case 33..<36:
            guard let cell = written.randomElement(using: &rng) else { return [BPFInstruction(code: O.misc | O.txa)] }
            return [BPFInstruction(code: Bool.random(using: &rng) ? O.st : O.stx, k: cell)]
        case 36..<39:
            return [BPFInstruction(code: O.misc | (Bool.random(using: &rng) ? O.tax : O.txa))]
        case 39..<58:
            let ops = [O.add, O.sub, O.mul, O.div, O.mod, O.and, O.or, O.xor, O.lsh, O.rsh]
            let op = ops.randomElement(using: &rng)!
            if Bool.random(using: &rng) {
                var k = constant(using: &rng)
                if op == O.div || op == O.mod { k = max(k, 1) }
                if op == O.lsh || op == O.rsh { k %= 32 }
                return [BPFInstruction(code: O.alu | op | O.k, k: k)]
            }
            if dialect == .pcap && (op == O.lsh || op == O.rsh) {
                return [BPFInstruction(code: O.ldx | O.imm, k: UInt32.random(in: 0..<32, using: &rng)),
                        BPFInstruction(code: O.alu | op | O.x)]
            }
            return [BPFInstruction(code: O.alu | op | O.x)]
        case 58..<60:
            return [BPFInstruction(code: O.alu | O.neg)]
        case 60..<82:
            let ops = [O.jeq, O.jgt, O.jge, O.jset]
            let source = Int.random(in: 0..<3, using: &rng) == 0 ? O.x : O.k
            return [BPFInstruction(code: O.jmp | ops.randomElement(using: &rng)! | source, jt: jumpOffset(), jf: jumpOffset(),
                                   k: source == O.x ? 0 : constant(using: &rng))]
        case 82..<85:
            return [BPFInstruction(code: O.jmp | O.ja, k: UInt32(jumpOffset()))]
        case 85..<89:
            return [Bool.random(using: &rng) ? BPFInstruction(code: O.ret | O.retA)
                                              : BPFInstruction(code: O.ret | O.retK, k: returnValue(using: &rng))]
        default:
            guard dialect == .linux, let ext = extensions.randomElement(using: &rng) else {
                return [BPFInstruction(code: O.ld | O.w | O.len)]
            }
            var load = [BPFInstruction(code: O.ld | sizes.randomElement(using: &rng)! | O.abs, k: ext.offset)]
            if ext == .netlinkAttribute || ext == .netlinkNestedAttribute {
                // A small A and X so the search starts inside the frame now and then.
                load.insert(BPFInstruction(code: O.ld | O.imm, k: UInt32.random(in: 0..<40, using: &rng)), at: 0)
                load.insert(BPFInstruction(code: O.ldx | O.imm, k: UInt32.random(in: 0..<8, using: &rng)), at: 0)
            }
            return load
        }
    }
}
