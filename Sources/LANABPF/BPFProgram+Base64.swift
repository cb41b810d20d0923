/// The most compact text form of a program, for programs whose source is
/// too long for one control message: the instructions as 8-byte records
/// (`code` big-endian 16 bits, `jt`, `jf`, `k` big-endian 32 bits),
/// base64-encoded (RFC 4648, with padding). A 4096-instruction program
/// takes 43,692 characters, whatever its constants.
extension BPFProgram {
    /// The instructions, encoded (no verification needed to encode).
    public static func base64Encoded(_ instructions: [BPFInstruction]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(instructions.count * 8)
        for i in instructions {
            bytes += [UInt8(i.code >> 8), UInt8(i.code & 0xFF), i.jt, i.jf,
                      UInt8(i.k >> 24), UInt8((i.k >> 16) & 0xFF), UInt8((i.k >> 8) & 0xFF), UInt8(i.k & 0xFF)]
        }
        return Base64.encode(bytes)
    }

    /// Decodes and verifies a program made by ``base64Encoded(_:)``.
    public init(base64 text: String) throws(BPFSourceError) {
        guard let bytes = Base64.decode(text) else {
            throw BPFSourceError("not base64: expected characters A-Z a-z 0-9 + / and = padding, in groups of four")
        }
        guard bytes.count % 8 == 0 else {
            throw BPFSourceError("\(bytes.count) bytes of instructions: expected a multiple of 8 (one record per instruction)")
        }
        var instructions: [BPFInstruction] = []
        instructions.reserveCapacity(bytes.count / 8)
        var at = 0
        while at < bytes.count {
            let code = UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
            let k = UInt32(bytes[at + 4]) << 24 | UInt32(bytes[at + 5]) << 16 | UInt32(bytes[at + 6]) << 8 | UInt32(bytes[at + 7])
            instructions.append(BPFInstruction(code: code, jt: bytes[at + 2], jf: bytes[at + 3], k: k))
            at += 8
        }
        do {
            try self.init(instructions)
        } catch {
            throw BPFSourceError(error)
        }
    }
}

/// RFC 4648 base64 with padding; no Foundation in the daemon.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = UInt32(bytes[i])
            let b1 = n > 1 ? UInt32(bytes[i + 1]) : 0
            let b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(n > 1 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `nil` for anything that is not canonical padded base64 (white space
    /// around it is ignored).
    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }
        guard chars.count % 4 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): return 62
            case UInt8(ascii: "/"): return 63
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var i = 0
        while i < chars.count {
            let last = i + 4 == chars.count
            let pad = (chars[i + 3] == UInt8(ascii: "=") ? 1 : 0) + (chars[i + 2] == UInt8(ascii: "=") ? 1 : 0)
            guard pad == 0 || last, !(chars[i + 2] == UInt8(ascii: "=") && chars[i + 3] != UInt8(ascii: "=")) else { return nil }
            guard let a = value(chars[i]), let b = value(chars[i + 1]) else { return nil }
            let c = pad >= 2 ? 0 : value(chars[i + 2])
            let d = pad >= 1 ? 0 : value(chars[i + 3])
            guard let c, let d else { return nil }
            let v = a << 18 | b << 12 | c << 6 | d
            out.append(UInt8(v >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(v >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return out
    }
}
