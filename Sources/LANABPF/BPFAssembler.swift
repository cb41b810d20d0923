/// Assembles `bpfc` programs: the language of the thesis's Appendix D.3, as
/// netsniff-ng's `bpfc` implements it.
///
/// ```
/// ldh #proto              ; EtherType, like ldh [12]
/// jeq #0x806, L1, L2      ; ARP?
/// L1: ret #0xffff         ; accept
/// L2: ret #0              ; drop
/// ```
///
/// Every mnemonic and addressing mode of the classic BPF machine:
///
/// | mnemonic | operands |
/// |---|---|
/// | `ldb`, `ldh` | `[k]`, `[x + k]`, extensions (`#proto`, `#ifidx`, …) |
/// | `ld` | `#k`, `#len`, `M[k]`, `[k]`, `[x + k]`, extensions |
/// | `ldx` | `#k`, `#len`, `M[k]`, `4*([k]&0xf)` |
/// | `ldxb` | `4*([k]&0xf)` |
/// | `ldi`, `ldxi` | `#k` or `k` (immediate loads) |
/// | `st`, `stx` | `M[k]` |
/// | `jmp`, `ja` | label |
/// | `jeq`, `jgt`, `jge`, `jset` | `#k` or `x`, then `,Lt,Lf` or `,Lt` (false: next) |
/// | `jneq`/`jne`, `jlt`, `jle` | `#k` or `x`, then `,Lf`: sugar for `jeq`, `jge`, `jgt` with the label as the false branch |
/// | `add` `sub` `mul` `div` `mod` `and` `or` `xor` `lsh` `rsh` | `#k` or `x` |
/// | `neg`, `tax`, `txa` | — |
/// | `ret` | `#k`, `a`, `x` |
///
/// `x` and `a` may be written `%x`, `%a`; extensions may omit the `#`
/// (`ld proto`), with `bpfc`'s abbreviations (`ifx`, `rxh`, `vlant`,
/// `vlanp`, …). Beyond `bpfc`, LANA accepts `#rand`, `#vlan_pr`,
/// `#vlan_avail`, `#vlan_tpid` and `#xor_x` (the kernel's `bpf_asm` names),
/// and `[x+4]` without spaces (which `bpfc`'s lexer reads as `x` `+4`).
///
/// Where `bpfc` silently produces a wrong program, LANA refuses: numbers
/// beyond 32 bits (truncated by `bpfc`), a label defined twice (`bpfc`
/// takes the first), a jump to an earlier instruction or more than 255
/// instructions ahead (`bpfc` wraps the offset to 8 bits). Labels are a
/// letter or `_` followed by letters, digits and `_`, case-sensitive, and
/// cannot be a keyword.
///
/// The output is not verified here; ``BPFProgram/init(source:)`` assembles
/// and verifies.
public enum BPFAssembler {
    /// The instructions for `text`.
    public static func assemble(_ text: String) throws(BPFSourceError) -> [BPFInstruction] {
        try assembleWithLines(text).instructions
    }

    /// The instructions for `text`, and for each the source line it came
    /// from (for messages that point at the line).
    public static func assembleWithLines(_ text: String) throws(BPFSourceError) -> (instructions: [BPFInstruction], lines: [Int]) {
        var parser = Parser(tokens: try tokenize(text))
        try parser.parseProgram()
        return (try parser.resolve(), parser.lines)
    }

    /// Recursive descent over the token stream, `bpfc`'s grammar.
    struct Parser {
        let tokens: [BPFToken]
        var position = 0
        var instructions: [BPFInstruction] = []
        var lines: [Int] = []
        /// Label name → (instruction index, line of the definition).
        var labels: [String: (index: Int, line: Int)] = [:]
        /// Jump references: instruction index, which field, label, line.
        var references: [(index: Int, field: Field, label: String, line: Int)] = []

        enum Field { case jt, jf, k }

        init(tokens: [BPFToken]) { self.tokens = tokens }

        var current: BPFToken? { position < tokens.count ? tokens[position] : nil }
        var lastLine: Int { current?.line ?? tokens.last?.line ?? 1 }

        func error(_ message: String) -> BPFSourceError {
            BPFSourceError(line: lastLine, message)
        }

        func unexpected(_ expected: String) -> BPFSourceError {
            guard let t = current else { return error("expected \(expected), found the end of the program") }
            return error("expected \(expected), found '\(t.text)'")
        }

        mutating func take() -> BPFToken? {
            defer { position += 1 }
            return current
        }

        mutating func accept(_ kind: BPFToken.Kind) -> Bool {
            if current?.kind == kind { position += 1; return true }
            return false
        }

        mutating func expect(_ kind: BPFToken.Kind, _ what: String) throws(BPFSourceError) {
            guard accept(kind) else { throw unexpected(what) }
        }

        mutating func expect(_ char: Character, _ what: String? = nil) throws(BPFSourceError) {
            try expect(.punctuation(char.asciiValue!), what ?? "'\(char)'")
        }

        mutating func accept(_ char: Character) -> Bool { accept(.punctuation(char.asciiValue!)) }

        /// A number, optionally preceded by `+`.
        mutating func number() throws(BPFSourceError) -> UInt32 {
            _ = accept("+")
            guard case .number(let n)? = current?.kind else { throw unexpected("a number") }
            position += 1
            return n
        }

        /// Whether a number (possibly written `+4`, as `bpfc` allows) comes next.
        var startsNumber: Bool {
            var i = position
            if i < tokens.count, tokens[i].kind == .punctuation(UInt8(ascii: "+")) { i += 1 }
            guard i < tokens.count, case .number = tokens[i].kind else { return false }
            return true
        }

        mutating func label() throws(BPFSourceError) -> (String, Int) {
            guard let t = current, case .label(let name) = t.kind else { throw unexpected("a label") }
            position += 1
            return (name, t.line)
        }

        // MARK: Program

        mutating func parseProgram() throws(BPFSourceError) {
            if tokens.isEmpty { throw BPFSourceError(line: 1, "the program has no instructions") }
            while let t = current {
                if case .label(let name) = t.kind {
                    position += 1
                    guard accept(":") else {
                        throw BPFSourceError(line: t.line, "unknown mnemonic '\(name)' (a label is followed by ':')")
                    }
                    if let previous = labels[name] {
                        throw BPFSourceError(line: t.line, "label \(name) is already defined on line \(previous.line)")
                    }
                    labels[name] = (instructions.count, t.line)
                    guard case .mnemonic? = current?.kind else { throw unexpected("an instruction after label \(name):") }
                }
                try parseInstruction()
            }
        }

        mutating func emit(_ code: UInt16, _ k: UInt32 = 0, line: Int) throws(BPFSourceError) {
            if instructions.count >= BPFVerifier.maximumLength {
                throw BPFSourceError(line: line, "more than \(BPFVerifier.maximumLength) instructions")
            }
            instructions.append(BPFInstruction(code: code, k: k))
            lines.append(line)
        }

        mutating func reference(_ field: Field, _ label: (String, Int)) {
            references.append((instructions.count, field, label.0, label.1))
        }

        mutating func parseInstruction() throws(BPFSourceError) {
            guard let t = take(), case .mnemonic(let m) = t.kind else {
                position -= 1
                throw unexpected("a mnemonic")
            }
            let line = t.line
            let O = BPFOpcode.self
            switch m {
            case .ldb, .ldh, .ld:
                let size = m == .ldb ? O.b : m == .ldh ? O.h : O.w
                try parseLoad(size: size, word: m == .ld, line: line)
            case .ldi, .ldxi:
                _ = accept("#")
                try emit((m == .ldi ? O.ld : O.ldx) | O.imm, number(), line: line)
            case .ldx:
                if accept("#") {
                    try emit(O.ldx | O.imm, number(), line: line)
                } else if accept(.length) {
                    try emit(O.ldx | O.w | O.len, line: line)
                } else if accept(.m) {
                    try emit(O.ldx | O.mem, scratch(), line: line)
                } else if startsNumber {
                    try emit(O.ldx | O.b | O.msh, nibble(), line: line)
                } else {
                    throw unexpected("#k, #len, M[k] or 4*([k]&0xf)")
                }
            case .ldxb:
                try emit(O.ldx | O.b | O.msh, nibble(), line: line)
            case .st, .stx:
                try expect(.m, "M[k]")
                try emit(m == .st ? O.st : O.stx, scratch(), line: line)
            case .ja:
                reference(.k, try label())
                try emit(O.jmp | O.ja, line: line)
            case .jeq, .jgt, .jge, .jset:
                let op: UInt16 = [.jeq: O.jeq, .jgt: O.jgt, .jge: O.jge, .jset: O.jset][m]!
                let (source, k) = try jumpOperand()
                try expect(",", "',' and a label")
                reference(.jt, try label())
                if accept(",") { reference(.jf, try label()) }
                try emit(O.jmp | op | source, k, line: line)
            case .jneq, .jlt, .jle:
                let op: UInt16 = [.jneq: O.jeq, .jlt: O.jge, .jle: O.jgt][m]!
                let (source, k) = try jumpOperand()
                try expect(",", "',' and a label")
                reference(.jf, try label())
                try emit(O.jmp | op | source, k, line: line)
            case .add, .sub, .mul, .div, .mod, .and, .or, .xor, .lsh, .rsh:
                let op: UInt16 = [.add: O.add, .sub: O.sub, .mul: O.mul, .div: O.div, .mod: O.mod,
                                  .and: O.and, .or: O.or, .xor: O.xor, .lsh: O.lsh, .rsh: O.rsh][m]!
                if accept("#") {
                    try emit(O.alu | op | O.k, number(), line: line)
                } else {
                    _ = accept("%")
                    try expect(.x, "#k or x")
                    try emit(O.alu | op | O.x, line: line)
                }
            case .neg:
                try emit(O.alu | O.neg, line: line)
            case .ret:
                if accept("#") {
                    try emit(O.ret | O.retK, number(), line: line)
                } else {
                    _ = accept("%")
                    if accept(.a) {
                        try emit(O.ret | O.retA, line: line)
                    } else if accept(.x) {
                        try emit(O.ret | O.retX, line: line)
                    } else {
                        throw unexpected("#k, a or x")
                    }
                }
            case .tax:
                try emit(O.misc | O.tax, line: line)
            case .txa:
                try emit(O.misc | O.txa, line: line)
            }
        }

        /// Operands of `ldb`, `ldh`, `ld`.
        mutating func parseLoad(size: UInt16, word: Bool, line: Int) throws(BPFSourceError) {
            let O = BPFOpcode.self
            if case .ancillary(let ext)? = current?.kind {
                position += 1
                return try emit(O.ld | size | O.abs, ext.offset, line: line)
            }
            if accept("[") {
                var indirect = accept(.x)
                if !indirect && accept("%") {
                    try expect(.x, "x after %")
                    indirect = true
                }
                if indirect {
                    // `[x + k]`; `[x+4]` arrives as `x`, `+`, `4` too.
                    try expect("+", "'+' in [x + k]")
                    let k = try number()
                    try expect("]")
                    return try emit(O.ld | size | O.ind, k, line: line)
                }
                let k = try number()
                try expect("]")
                return try emit(O.ld | size | O.abs, k, line: line)
            }
            guard word else { throw unexpected("[k], [x + k] or an extension such as #proto") }
            if accept(.length) { return try emit(O.ld | O.w | O.len, line: line) }
            if accept("#") { return try emit(O.ld | O.imm, number(), line: line) }
            if accept(.m) { return try emit(O.ld | O.mem, scratch(), line: line) }
            throw unexpected("#k, #len, M[k], [k], [x + k] or an extension such as #proto")
        }

        /// `[k]` after `M`.
        mutating func scratch() throws(BPFSourceError) -> UInt32 {
            try expect("[")
            let k = try number()
            try expect("]")
            return k
        }

        /// `4*([k]&0xf)`; returns k.
        mutating func nibble() throws(BPFSourceError) -> UInt32 {
            let line = lastLine
            let four = try number()
            try expect("*", "'*' in 4*([k]&0xf)")
            try expect("(")
            try expect("[")
            let k = try number()
            try expect("]")
            try expect("&", "'&' in 4*([k]&0xf)")
            let mask = try number()
            try expect(")")
            guard four == 4, mask == 0xF else {
                throw BPFSourceError(line: line, "only 4*([k]&0xf) is an addressing mode, not \(four)*([k]&\(mask))")
            }
            return k
        }

        /// `#k` or `x`/`%x` of a conditional jump: (source bit, k).
        mutating func jumpOperand() throws(BPFSourceError) -> (UInt16, UInt32) {
            if accept("#") { return (BPFOpcode.k, try number()) }
            _ = accept("%")
            try expect(.x, "#k or x")
            return (BPFOpcode.x, 0)
        }

        // MARK: Labels

        /// Fills in jump offsets from the labels.
        func resolve() throws(BPFSourceError) -> [BPFInstruction] {
            var out = instructions
            for r in references {
                guard let target = labels[r.label] else {
                    throw BPFSourceError(line: r.line, instruction: r.index, "no such label: \(r.label)")
                }
                let offset = target.index - r.index - 1
                if offset < 0 {
                    throw BPFSourceError(line: r.line, instruction: r.index,
                                         "jump to \(r.label) (line \(target.line)) goes backwards; classic BPF jumps only forward")
                }
                switch r.field {
                case .k:
                    out[r.index].k = UInt32(offset)
                case .jt, .jf:
                    guard offset <= 255 else {
                        throw BPFSourceError(line: r.line, instruction: r.index,
                                             "conditional jump to \(r.label) skips \(offset) instructions, at most 255 (use ja)")
                    }
                    if r.field == .jt { out[r.index].jt = UInt8(offset) } else { out[r.index].jf = UInt8(offset) }
                }
            }
            return out
        }
    }
}
