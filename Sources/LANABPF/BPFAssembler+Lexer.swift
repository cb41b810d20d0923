/// The tokens of `bpfc`'s language (netsniff-ng's `bpf_lexer.l`).
///
/// Keywords are case-insensitive, labels case-sensitive. Comments run from
/// `;` to the end of the line, between `/*` and `*/`, and over whole lines
/// that start with `#` in the first column. Numbers are decimal (with an
/// optional `-`), `0x` hexadecimal, `0b` binary or `0`-prefixed octal, and
/// must fit in 32 bits (`bpfc` silently truncates; LANA refuses).
struct BPFToken: Equatable {
    enum Kind: Equatable {
        case mnemonic(BPFMnemonic)
        case label(String)
        case number(UInt32)
        case ancillary(BPFAncillary)
        /// `len`, `pktlen`, `#len`.
        case length
        /// `x`, `a`, `M` (any case).
        case x, a, m
        /// One of `: , # % [ ] ( ) + * &`.
        case punctuation(UInt8)
    }

    let kind: Kind
    let line: Int

    var text: String {
        switch kind {
        case .mnemonic(let m): return m.rawValue
        case .label(let s): return s
        case .number(let n): return String(n)
        case .ancillary(let a): return "#" + a.name
        case .length: return "#len"
        case .x: return "x"
        case .a: return "a"
        case .m: return "M"
        case .punctuation(let c): return String(UnicodeScalar(c))
        }
    }
}

/// The instruction words of the language; several spellings share one.
enum BPFMnemonic: String {
    case ldb, ldh, ld, ldi, ldx, ldxi, ldxb, st, stx
    case ja, jeq, jneq, jlt, jle, jgt, jge, jset
    case add, sub, mul, div, mod, neg, and, or, xor, lsh, rsh
    case ret, tax, txa

    static func lookup(_ lowercased: String) -> BPFMnemonic? {
        switch lowercased {
        case "jmp": return .ja
        case "jne": return .jneq
        default: return BPFMnemonic(rawValue: lowercased)
        }
    }
}

extension BPFAssembler {
    /// Splits `text` into tokens, or throws at the first character that
    /// cannot start one.
    static func tokenize(_ text: String) throws(BPFSourceError) -> [BPFToken] {
        var tokens: [BPFToken] = []
        let bytes = Array(text.utf8)
        let n = bytes.count
        var i = 0
        var line = 1
        var lineStart = true

        func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") || c == UInt8(ascii: "_") }
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        func word(from start: Int) -> Int {
            var j = start
            while j < n, isLetter(bytes[j]) || isDigit(bytes[j]) { j += 1 }
            return j
        }

        while i < n {
            let c = bytes[i]
            let atLineStart = lineStart
            lineStart = false
            switch c {
            case UInt8(ascii: "\n"):
                line += 1
                lineStart = true
                i += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                i += 1
            case UInt8(ascii: ";"):
                while i < n, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "#") where atLineStart:
                while i < n, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "*"):
                let startLine = line
                i += 2
                while i + 1 < n, !(bytes[i] == UInt8(ascii: "*") && bytes[i + 1] == UInt8(ascii: "/")) {
                    if bytes[i] == UInt8(ascii: "\n") { line += 1 }
                    i += 1
                }
                guard i + 1 < n else { throw BPFSourceError(line: startLine, "comment /* is never closed") }
                i += 2
            case UInt8(ascii: "#"):
                // `#len`, `#proto`, … are one token; otherwise `#` alone.
                let end = word(from: i + 1)
                if end > i + 1, isLetter(bytes[i + 1]) {
                    let name = String(decoding: bytes[(i + 1)..<end], as: UTF8.self).lowercased()
                    if name == "len" || name == "pktlen" {
                        tokens.append(BPFToken(kind: .length, line: line)); i = end; continue
                    }
                    if let ext = BPFAncillary.spellings[name] {
                        tokens.append(BPFToken(kind: .ancillary(ext), line: line)); i = end; continue
                    }
                }
                tokens.append(BPFToken(kind: .punctuation(c), line: line))
                i += 1
            case UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "%"), UInt8(ascii: "["), UInt8(ascii: "]"),
                 UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "+"), UInt8(ascii: "*"), UInt8(ascii: "&"):
                tokens.append(BPFToken(kind: .punctuation(c), line: line))
                i += 1
            case UInt8(ascii: "-") where i + 1 < n && isDigit(bytes[i + 1]):
                let (value, end) = try number(bytes, from: i + 1, line: line, negative: true)
                tokens.append(BPFToken(kind: .number(value), line: line))
                i = end
            case _ where isDigit(c):
                let (value, end) = try number(bytes, from: i, line: line, negative: false)
                tokens.append(BPFToken(kind: .number(value), line: line))
                i = end
            case _ where isLetter(c):
                let end = word(from: i)
                let original = String(decoding: bytes[i..<end], as: UTF8.self)
                let lower = original.lowercased()
                let kind: BPFToken.Kind
                if let m = BPFMnemonic.lookup(lower) {
                    kind = .mnemonic(m)
                } else if lower == "x" {
                    kind = .x
                } else if lower == "a" {
                    kind = .a
                } else if lower == "m" {
                    kind = .m
                } else if lower == "len" || lower == "pktlen" {
                    kind = .length
                } else if let ext = BPFAncillary.spellings[lower], bpfcBareNames.contains(lower) {
                    kind = .ancillary(ext)
                } else {
                    kind = .label(original)
                }
                tokens.append(BPFToken(kind: kind, line: line))
                i = end
            default:
                let shown = c >= 0x20 && c < 0x7F ? "'\(String(UnicodeScalar(c)))'" : "byte 0x\(String(c, radix: 16))"
                throw BPFSourceError(line: line, "unexpected character \(shown)")
            }
        }
        return tokens
    }

    /// Extension names `bpfc` also accepts without `#`; LANA's additions
    /// (`rand`, `vlan_pr`, …) need the `#`, so they stay usable as labels.
    static let bpfcBareNames: Set<String> = [
        "proto", "pto", "type", "ifidx", "ifx", "nla", "nlan", "mark", "queue", "que", "q",
        "hatype", "hat", "rxhash", "rxh", "cpu", "vlan_tci", "vlant", "vlanp", "vlana", "vlan_acc", "poff",
    ]

    /// Reads the number starting at `start` (after a `-`, if `negative`).
    private static func number(_ bytes: [UInt8], from start: Int, line: Int,
                               negative: Bool) throws(BPFSourceError) -> (UInt32, Int) {
        let n = bytes.count
        var i = start
        var radix: UInt64 = 10
        if bytes[i] == UInt8(ascii: "0"), i + 1 < n {
            switch bytes[i + 1] | 0x20 {
            case UInt8(ascii: "x"): radix = 16; i += 2
            case UInt8(ascii: "b"): radix = 2; i += 2
            default:
                if bytes[i + 1] >= UInt8(ascii: "0") && bytes[i + 1] <= UInt8(ascii: "9") { radix = 8; i += 1 }
            }
        }
        let digitsStart = i
        var value: UInt64 = 0
        var tooBig = false
        while i < n {
            let c = bytes[i]
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: d = UInt64(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: d = UInt64(c - UInt8(ascii: "A") + 10)
            default: d = 99
            }
            if d == 99 { break }
            if d >= radix {
                throw BPFSourceError(line: line, "digit '\(String(UnicodeScalar(c)))' in a base-\(radix) number")
            }
            value = value &* radix &+ d
            if value > 0x1_0000_0000 { tooBig = true }
            i += 1
        }
        let literal = String(decoding: bytes[(negative ? start - 1 : start)..<i], as: UTF8.self)
        if i == digitsStart { throw BPFSourceError(line: line, "number \(literal) has no digits") }
        if negative && radix != 10 { throw BPFSourceError(line: line, "only decimal numbers may be negative: \(literal)") }
        if tooBig || (!negative && value > UInt64(UInt32.max)) || (negative && value > 0x8000_0000) {
            throw BPFSourceError(line: line, "number \(literal) does not fit in 32 bits")
        }
        let result = negative ? UInt32(truncatingIfNeeded: 0 &- value) : UInt32(value)
        return (result, i)
    }
}
