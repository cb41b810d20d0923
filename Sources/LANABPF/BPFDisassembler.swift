/// Turns classic BPF instructions back into text, in three forms:
///
/// - ``tuples(_:)``: `{ 0x28, 0, 0, 0x0000000c },` lines, as `bpfc` and
///   `tcpdump -dd` print them (LANA's `bpf` status file);
/// - ``listing(_:)``: the `tcpdump -d` listing, character for character what
///   libpcap's `bpf_image` produces (`(001) jeq      #0x800           jt 2	jf 5`);
/// - ``assembly(_:)``: `bpfc` assembly with a label at every jump target,
///   which LANA's ``BPFAssembler`` (and `bpfc`, unless the program uses
///   `#rand`, `#vlan_tpid` or `#xor_x`) turns back into the same instructions.
public enum BPFDisassembler {
    /// One tuple line per instruction, each ending in a newline.
    public static func tuples(_ program: [BPFInstruction]) -> String {
        var out = ""
        for insn in program { out += insn.tuple; out += "\n" }
        return out
    }

    /// The `tcpdump -d` listing: one line per instruction, each ending in a
    /// newline.
    public static func listing(_ program: [BPFInstruction]) -> String {
        var out = ""
        for (i, insn) in program.enumerated() { out += line(insn, at: i); out += "\n" }
        return out
    }

    /// One line of the `tcpdump -d` listing: libpcap's `bpf_image(insn, index)`.
    public static func line(_ insn: BPFInstruction, at index: Int) -> String {
        let (op, operand) = parts(insn, at: index)
        let number = index < 1000 ? pad(String(index), 3, "0") : String(index)
        if insn.isConditionalJump {
            let jt = index + 1 + Int(insn.jt), jf = index + 1 + Int(insn.jf)
            return "(\(number)) \(pad(op, 8)) \(pad(operand, 16)) jt \(jt)\tjf \(jf)"
        }
        return "(\(number)) \(pad(op, 8)) \(operand)"
    }

    /// A compact one-line form for messages: `jeq #0x800 jt 2 jf 5`.
    public static func image(_ insn: BPFInstruction, at index: Int) -> String {
        let (op, operand) = parts(insn, at: index)
        var s = operand.isEmpty ? op : op + " " + operand
        if insn.isConditionalJump {
            s += " jt \(index + 1 + Int(insn.jt)) jf \(index + 1 + Int(insn.jf))"
        }
        return s
    }

    /// `bpfc` assembly for `program`, one instruction per line, labels `L<n>`
    /// (the instruction index) at jump targets.
    public static func assembly(_ program: [BPFInstruction]) -> String {
        var targets = Set<Int>()
        for (i, insn) in program.enumerated() {
            if insn.code == BPFOpcode.jmp | BPFOpcode.ja {
                targets.insert(i + 1 + Int(insn.k))
            } else if insn.isConditionalJump {
                targets.insert(i + 1 + Int(insn.jt))
                targets.insert(i + 1 + Int(insn.jf))
            }
        }
        var out = ""
        for (i, insn) in program.enumerated() {
            let label = targets.contains(i) ? "L\(i):" : ""
            out += pad(label, 7) + " " + statement(insn, at: i) + "\n"
        }
        return out
    }

    /// One instruction in `bpfc` syntax; jump targets as labels `L<n>`.
    public static func statement(_ insn: BPFInstruction, at index: Int) -> String {
        let O = BPFOpcode.self
        let k = insn.k
        let signed = Int32(bitPattern: k)
        let hexK = "#0x" + String(k, radix: 16)
        let code = insn.code
        switch code & 0x07 {
        case O.ld, O.ldx:
            let op = code & 0x07 == O.ld ? loadMnemonic(code) : "ldx"
            switch code & 0xE0 {
            case O.imm: return "\(op) \(hexK)"
            case O.len: return "\(op) #len"
            case O.mem: return "\(op) M[\(k)]"
            case O.abs:
                if let ext = BPFAncillary(offset: k) { return "\(op) #\(ext.name)" }
                return "\(op) [\(k >= 0x8000_0000 ? String(signed) : String(k))]"
            case O.ind: return "\(op) [x + \(k >= 0x8000_0000 ? String(signed) : String(k))]"
            case O.msh: return "ldxb 4*([\(k >= 0x8000_0000 ? String(signed) : String(k))]&0xf)"
            default: break
            }
        case O.st: return "st M[\(k)]"
        case O.stx: return "stx M[\(k)]"
        case O.alu:
            guard let op = aluMnemonic(code) else { break }
            if code & 0xF0 == O.neg { return "neg" }
            if code & O.x != 0 { return "\(op) x" }
            let bitwise = [O.and, O.or, O.xor].contains(code & 0xF0)
            return "\(op) " + (bitwise ? hexK : "#\(k)")
        case O.jmp:
            if code & 0xF0 == O.ja { return "ja L\(index + 1 + Int(k))" }
            guard let op = jumpMnemonic(code) else { break }
            let operand = code & O.x != 0 ? "x" : hexK
            return "\(op) \(operand), L\(index + 1 + Int(insn.jt)), L\(index + 1 + Int(insn.jf))"
        case O.ret:
            switch code & 0x18 {
            case O.retK: return "ret \(hexK)"
            case O.retA: return "ret a"
            case O.retX: return "ret x"
            default: break
            }
        case O.misc:
            if code & 0xF8 == O.tax { return "tax" }
            if code & 0xF8 == O.txa { return "txa" }
        default: break
        }
        return "; unknown opcode 0x\(String(code, radix: 16))"
    }

    // MARK: bpf_image

    /// Mnemonic and operand exactly as libpcap's `bpf_image` formats them.
    static func parts(_ insn: BPFInstruction, at index: Int) -> (String, String) {
        let O = BPFOpcode.self
        let k = insn.k
        let d = String(Int32(bitPattern: k))
        let hex = "#0x" + String(k, radix: 16)
        switch insn.code {
        case O.ret | O.retK: return ("ret", "#" + d)
        case O.ret | O.retA: return ("ret", "")
        case O.ld | O.w | O.abs: return ("ld", absOperand(k))
        case O.ld | O.h | O.abs: return ("ldh", absOperand(k))
        case O.ld | O.b | O.abs: return ("ldb", absOperand(k))
        case O.ld | O.w | O.len: return ("ld", "#pktlen")
        case O.ld | O.w | O.ind: return ("ld", "[x + \(d)]")
        case O.ld | O.h | O.ind: return ("ldh", "[x + \(d)]")
        case O.ld | O.b | O.ind: return ("ldb", "[x + \(d)]")
        case O.ld | O.imm: return ("ld", hex)
        case O.ldx | O.imm: return ("ldx", hex)
        case O.ldx | O.msh | O.b: return ("ldxb", "4*([\(d)]&0xf)")
        case O.ld | O.mem: return ("ld", "M[\(d)]")
        case O.ldx | O.mem: return ("ldx", "M[\(d)]")
        case O.st: return ("st", "M[\(d)]")
        case O.stx: return ("stx", "M[\(d)]")
        case O.jmp | O.ja: return ("ja", String(Int32(truncatingIfNeeded: index &+ 1 &+ Int(Int32(bitPattern: k)))))
        case O.alu | O.neg: return ("neg", "")
        case O.misc | O.tax: return ("tax", "")
        case O.misc | O.txa: return ("txa", "")
        default: break
        }
        if insn.code < 0x100, insn.isConditionalJump, let op = jumpMnemonic(insn.code) {
            return (op, insn.code & O.x != 0 ? "x" : hex)
        }
        if insn.code < 0x100, insn.code & 0x07 == O.alu, insn.code & 0xF0 != O.neg, let op = aluMnemonic(insn.code) {
            if insn.code & O.x != 0 { return (op, "x") }
            let bitwise = [O.and, O.or, O.xor].contains(insn.code & 0xF0)
            return (op, bitwise ? hex : "#" + d)
        }
        return ("unimp", "0x" + String(insn.code, radix: 16))
    }

    private static func absOperand(_ k: UInt32) -> String {
        if let ext = BPFAncillary(offset: k) { return "[\(imageNames[Int(ext.rawValue / 4)])]" }
        return "[\(Int32(bitPattern: k))]"
    }

    /// libpcap's names for the extension offsets.
    private static let imageNames = [
        "proto", "type", "ifidx", "nla", "nlan", "mark", "queue", "hatype", "rxhash", "cpu",
        "xor_x", "vlan_tci", "vlanp", "poff", "random", "vlan_tpid",
    ]

    static func loadMnemonic(_ code: UInt16) -> String {
        switch code & 0x18 {
        case BPFOpcode.h: return "ldh"
        case BPFOpcode.b: return "ldb"
        default: return "ld"
        }
    }

    static func aluMnemonic(_ code: UInt16) -> String? {
        switch code & 0xF0 {
        case BPFOpcode.add: return "add"
        case BPFOpcode.sub: return "sub"
        case BPFOpcode.mul: return "mul"
        case BPFOpcode.div: return "div"
        case BPFOpcode.mod: return "mod"
        case BPFOpcode.and: return "and"
        case BPFOpcode.or: return "or"
        case BPFOpcode.xor: return "xor"
        case BPFOpcode.lsh: return "lsh"
        case BPFOpcode.rsh: return "rsh"
        case BPFOpcode.neg: return "neg"
        default: return nil
        }
    }

    static func jumpMnemonic(_ code: UInt16) -> String? {
        switch code & 0xF0 {
        case BPFOpcode.jeq: return "jeq"
        case BPFOpcode.jgt: return "jgt"
        case BPFOpcode.jge: return "jge"
        case BPFOpcode.jset: return "jset"
        default: return nil
        }
    }

    private static func pad(_ s: String, _ width: Int, _ fill: Character = " ") -> String {
        s.count >= width ? s : (fill == " " ? s + String(repeating: " ", count: width - s.count)
                                            : String(repeating: fill, count: width - s.count) + s)
    }
}
