import LANABPF

/// Random `bpfc` programs in every spelling the language allows (case,
/// spacing, number bases, comments, label placement), for comparing LANA's
/// assembler with `bpfc` beyond the hand-written corpus.
struct BPFRandomAssembly<G: RandomNumberGenerator> {
    var rng: G

    mutating func pick<T>(_ choices: [T]) -> T { choices.randomElement(using: &rng)! }
    mutating func chance(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &rng) == 0 }

    mutating func word(_ s: String) -> String {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return s.uppercased()
        case 1: return String(s.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
        default: return s
        }
    }

    mutating func space() -> String { pick([" ", "\t", "  ", " \t "]) }
    mutating func gap() -> String { pick(["", "", " ", "\t"]) }

    /// `value` in a random base.
    mutating func number(_ value: UInt32) -> String {
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: return "0x" + String(value, radix: 16)
        case 1: return "0X" + String(value, radix: 16, uppercase: true)
        case 2: return value == 0 ? "0" : "0" + String(value, radix: 8)
        case 3: return "0b" + String(value, radix: 2)
        case 4 where value >= 0x8000_0000: return "-" + String(UInt64(1) << 32 - UInt64(value))
        case 5 where value > 0: return "+" + String(value)
        default: return String(value)
        }
    }

    mutating func value() -> UInt32 {
        pick([0, 1, 12, 14, 23, 0x800, 0xFFFF, 0xFFFF_FFFF, 0x8000_0000, UInt32.random(in: 0...UInt32.max, using: &rng),
              UInt32.random(in: 0..<256, using: &rng)])
    }

    mutating func x() -> String { (chance(3) ? "%" : "") + word("x") }

    /// One instruction; `label` is a later label to jump to.
    mutating func instruction(label: () -> String?) -> String {
        let s = space()
        let extensions = ["proto", "pto", "type", "poff", "ifidx", "ifx", "nla", "nlan", "mark", "queue", "que", "Q",
                          "hatype", "hat", "rxhash", "rxh", "cpu", "vlan_tci", "vlant", "vlanp", "vlana", "vlan_acc"]
        switch Int.random(in: 0..<16, using: &rng) {
        case 0:
            let m = word(pick(["ld", "ldh", "ldb"]))
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: return m + s + "[" + gap() + number(value()) + gap() + "]"
            case 1: return m + s + "[" + gap() + x() + " + " + gap() + number(value()) + gap() + "]"
            default: return m + s + (chance(2) ? "#" : "") + word(pick(extensions))
            }
        case 1:
            return word("ld") + s + pick(["#" + number(value()), word(pick(["#len", "len", "#pktlen", "pktlen"])),
                                          word("M") + "[" + number(UInt32.random(in: 0..<16, using: &rng)) + "]"])
        case 2:
            return word("ldx") + s + pick(["#" + number(value()), word(pick(["#len", "len", "pktlen"])),
                                           word("M") + "[" + number(UInt32.random(in: 0..<16, using: &rng)) + "]"])
        case 3:
            return word(pick(["ldx", "ldxb"])) + s + number(4) + gap() + "*" + gap() + "(" + gap() + "[" + number(value())
                + "]" + gap() + "&" + gap() + number(15) + gap() + ")"
        case 4:
            return word(pick(["ldi", "ldxi"])) + s + (chance(2) ? "#" : "") + number(value())
        case 5:
            return word(pick(["st", "stx"])) + s + word("M") + gap() + "[" + gap() + number(UInt32.random(in: 0..<16, using: &rng)) + gap() + "]"
        case 6, 7:
            let op = word(pick(["add", "sub", "mul", "div", "mod", "and", "or", "xor", "lsh", "rsh"]))
            return op + s + (chance(2) ? x() : "#" + number(value()))
        case 8:
            return word(pick(["neg", "tax", "txa"]))
        case 9, 10, 11:
            guard let target = label() else { return word("tax") }
            let operand = chance(3) ? x() : "#" + number(value())
            let op = pick(["jeq", "jgt", "jge", "jset", "jneq", "jne", "jlt", "jle"])
            var text = word(op) + s + operand + gap() + "," + gap() + target
            if ["jeq", "jgt", "jge", "jset"].contains(op), chance(2), let other = label() {
                text += gap() + "," + gap() + other
            }
            return text
        case 12:
            guard let target = label() else { return word("txa") }
            return word(pick(["ja", "jmp"])) + s + target
        default:
            return word("ret") + s + pick(["#" + number(value()), (chance(2) ? "%" : "") + word("a"), x()])
        }
    }

    /// A program of `count` instructions with labels, comments and blank lines.
    mutating func program(count: Int) -> String {
        let names = ["L1", "lbl", "Next_2", "_x9", "out", "drop", "keep", "a_b", "Z3", "xx"]
        var labels: [Int: String] = [:]
        for i in 1..<count where chance(3) { labels[i] = names[i % names.count] + "_\(i)" }
        labels[count - 1] = "the_end"
        var text = chance(3) ? "# header comment\n" : ""
        for i in 0..<count {
            if let name = labels[i] {
                text += name + ":" + (chance(3) ? "\n" : gap())
            }
            let later = labels.filter { $0.key > i && $0.key - i - 1 <= 255 }.map(\.value).sorted()
            var generator = self
            let line: String
            if i == count - 1 {
                line = word("ret") + space() + pick(["#" + number(value()), "a"])
            } else {
                line = generator.instruction(label: { later.randomElement() })
                self = generator
            }
            text += gap() + line
            if chance(5) { text += gap() + "; note " + String(i) }
            if chance(8) { text += " /* c */" }
            text += "\n"
            if chance(10) { text += "\n" }
        }
        return text
    }
}
