/// Reads programs printed as numbers rather than assembly:
///
/// - tuples, `{ 0x28, 0, 0, 0x0000000c },` (`bpfc`, `tcpdump -dd`), numbers
///   in C notation (decimal, `0x` hex, `0` octal);
/// - the decimal form of `tcpdump -ddd`: the instruction count, then one
///   `code jt jf k` record per line; records may also be separated by
///   commas (`bpfc -f xt_bpf`, iptables' `--bytecode`), or the records
///   alone without the count (`bpfc -f tcpdump`).
///
/// Comments (`;` or `//` to the end of the line, `/* … */`, lines starting
/// with `#`) are allowed in both.
enum BPFTupleParser {
    enum Form { case tuples, decimal, assembly }

    /// Which form `source` is in, from its first character that is not
    /// blank or comment: `{` tuples, a digit the decimal form, anything
    /// else assembly.
    static func form(of source: String) -> Form {
        let bytes = Array(source.utf8)
        var i = 0
        var lineStart = true
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\n") { lineStart = true; i += 1; continue }
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { i += 1; continue }
            if c == UInt8(ascii: ";") || (c == UInt8(ascii: "#") && lineStart)
                || (c == UInt8(ascii: "/") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/")) {
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
                continue
            }
            if c == UInt8(ascii: "/") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i + 1 < bytes.count, !(bytes[i] == UInt8(ascii: "*") && bytes[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i += 2
                lineStart = false
                continue
            }
            if c == UInt8(ascii: "{") { return .tuples }
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { return .decimal }
            return .assembly
        }
        return .assembly
    }

    /// A token of the numeric forms: a number, or one of `{ } ,` or a line break.
    private enum Token: Equatable {
        case number(UInt64)
        case open, close, comma, newline
    }

    private static func tokenize(_ source: String) throws(BPFSourceError) -> [(Token, Int)] {
        let bytes = Array(source.utf8)
        var out: [(Token, Int)] = []
        var i = 0
        var line = 1
        var lineStart = true
        while i < bytes.count {
            let c = bytes[i]
            let atStart = lineStart
            lineStart = false
            switch c {
            case UInt8(ascii: "\n"):
                out.append((.newline, line))
                line += 1
                lineStart = true
                i += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                lineStart = atStart
                i += 1
            case UInt8(ascii: ";"):
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "#") where atStart:
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/"):
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "*"):
                let start = line
                i += 2
                while i + 1 < bytes.count, !(bytes[i] == UInt8(ascii: "*") && bytes[i + 1] == UInt8(ascii: "/")) {
                    if bytes[i] == UInt8(ascii: "\n") { line += 1 }
                    i += 1
                }
                guard i + 1 < bytes.count else { throw BPFSourceError(line: start, "comment /* is never closed") }
                i += 2
            case UInt8(ascii: "{"): out.append((.open, line)); i += 1
            case UInt8(ascii: "}"): out.append((.close, line)); i += 1
            case UInt8(ascii: ","): out.append((.comma, line)); i += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                var j = i
                while j < bytes.count, (bytes[j] | 0x20) >= UInt8(ascii: "a") && (bytes[j] | 0x20) <= UInt8(ascii: "z")
                    || bytes[j] >= UInt8(ascii: "0") && bytes[j] <= UInt8(ascii: "9") { j += 1 }
                let literal = String(decoding: bytes[i..<j], as: UTF8.self)
                guard let value = parseCNumber(literal) else {
                    throw BPFSourceError(line: line, "bad number \(literal)")
                }
                out.append((.number(value), line))
                i = j
            default:
                let shown = c >= 0x20 && c < 0x7F ? "'\(String(UnicodeScalar(c)))'" : "byte 0x\(String(c, radix: 16))"
                throw BPFSourceError(line: line, "unexpected character \(shown) in a numeric program")
            }
        }
        return out
    }

    /// `123`, `0x7b`, `0173`; `nil` if malformed or beyond 64 bits.
    static func parseCNumber(_ s: String) -> UInt64? {
        let lower = s.lowercased()
        if lower.hasPrefix("0x") { return lower.count > 2 ? UInt64(lower.dropFirst(2), radix: 16) : nil }
        if lower.count > 1 && lower.hasPrefix("0") { return UInt64(lower.dropFirst(), radix: 8) }
        return UInt64(lower, radix: 10)
    }

    private static func field(_ value: UInt64, max: UInt64, _ name: String, line: Int) throws(BPFSourceError) -> UInt64 {
        guard value <= max else { throw BPFSourceError(line: line, "\(name) \(value) is larger than \(max)") }
        return value
    }

    private static func instruction(_ v: [UInt64], line: Int) throws(BPFSourceError) -> BPFInstruction {
        BPFInstruction(code: UInt16(try field(v[0], max: 0xFFFF, "opcode", line: line)),
                       jt: UInt8(try field(v[1], max: 255, "jt", line: line)),
                       jf: UInt8(try field(v[2], max: 255, "jf", line: line)),
                       k: UInt32(try field(v[3], max: 0xFFFF_FFFF, "k", line: line)))
    }

    static func parseTuples(_ source: String) throws(BPFSourceError) -> (instructions: [BPFInstruction], lines: [Int]) {
        let tokens = try tokenize(source).filter { $0.0 != .newline }
        var out: [BPFInstruction] = []
        var lines: [Int] = []
        var i = 0
        func describe(_ t: Token) -> String {
            switch t {
            case .number(let n): return String(n)
            case .open: return "'{'"
            case .close: return "'}'"
            case .comma: return "','"
            case .newline: return "end of line"
            }
        }
        while i < tokens.count {
            let (t, line) = tokens[i]
            guard t == .open else { throw BPFSourceError(line: line, "expected '{' to start a tuple, found \(describe(t))") }
            i += 1
            var values: [UInt64] = []
            while values.count < 4 {
                guard i < tokens.count, case .number(let v) = tokens[i].0 else {
                    let found = i < tokens.count ? describe(tokens[i].0) : "the end"
                    throw BPFSourceError(line: i < tokens.count ? tokens[i].1 : line,
                                         "expected a number in { code, jt, jf, k }, found \(found)")
                }
                values.append(v)
                i += 1
                if values.count < 4 {
                    guard i < tokens.count, tokens[i].0 == .comma else {
                        throw BPFSourceError(line: line, "expected ',' between the four numbers of { code, jt, jf, k }")
                    }
                    i += 1
                }
            }
            if i < tokens.count, tokens[i].0 == .comma { i += 1 }
            guard i < tokens.count, tokens[i].0 == .close else {
                throw BPFSourceError(line: line, "expected '}' after the four numbers of { code, jt, jf, k }")
            }
            i += 1
            if i < tokens.count, tokens[i].0 == .comma { i += 1 }
            if out.count >= BPFVerifier.maximumLength {
                throw BPFSourceError(line: line, "more than \(BPFVerifier.maximumLength) instructions")
            }
            out.append(try instruction(values, line: line))
            lines.append(line)
        }
        if out.isEmpty { throw BPFSourceError(line: 1, "the program has no instructions") }
        return (out, lines)
    }

    static func parseDecimal(_ source: String) throws(BPFSourceError) -> (instructions: [BPFInstruction], lines: [Int]) {
        // Records end at a line break or a comma.
        var records: [(values: [UInt64], line: Int)] = []
        var current: [UInt64] = []
        var currentLine = 1
        for (t, line) in try tokenize(source) {
            switch t {
            case .number(let v):
                if current.isEmpty { currentLine = line }
                current.append(v)
            case .newline, .comma:
                if !current.isEmpty { records.append((current, currentLine)); current = [] }
            case .open, .close:
                throw BPFSourceError(line: line, "braces in a program of decimal records")
            }
        }
        if !current.isEmpty { records.append((current, currentLine)) }
        guard let first = records.first else { throw BPFSourceError(line: 1, "the program has no instructions") }
        let body: ArraySlice<(values: [UInt64], line: Int)>
        if first.values.count == 4 {
            // `bpfc -f tcpdump` prints the records without the count.
            body = records[...]
        } else {
            guard first.values.count == 1 else {
                throw BPFSourceError(line: first.line,
                                     "expected the instruction count alone on the first record (tcpdump -ddd form) or four numbers code jt jf k")
            }
            body = records.dropFirst()
            guard first.values[0] == UInt64(body.count) else {
                throw BPFSourceError(line: first.line, "the count says \(first.values[0]) instructions, \(body.count) follow")
            }
        }
        if body.count > BPFVerifier.maximumLength {
            throw BPFSourceError(line: first.line, "more than \(BPFVerifier.maximumLength) instructions")
        }
        var out: [BPFInstruction] = []
        for r in body {
            guard r.values.count == 4 else {
                throw BPFSourceError(line: r.line, "expected four numbers code jt jf k, found \(r.values.count)")
            }
            out.append(try instruction(r.values, line: r.line))
        }
        return (out, body.map(\.line))
    }
}
