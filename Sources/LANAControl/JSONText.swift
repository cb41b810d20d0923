/// Just enough JSON writing for the control channel's `--json` output: the
/// daemon renders its replies' JSON items and the tools their own objects
/// (refusals, events) with the same escaping, without Foundation.
public enum JSONText {
    /// `s` as a JSON string literal, quotes included (RFC 8259: `"` and `\`
    /// escaped, control characters as `\n`, `\t`, `\r` or `\u00XX`; all
    /// other scalars verbatim, since the output is UTF-8).
    public static func string(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
