import LANATestSupport

/// The tests' own reading of the frames they capture: FLIP (docs/flip.md
/// §2–§4) and both ARP encodings (§8), written from the format alone and
/// sharing no code with the blocks under test, so that a fault in the
/// blocks' codec cannot hide behind the same fault here.
enum WireFrame {
    static let flipEtherType: UInt16 = 0x2020
    static let arpEtherType: UInt16 = 0x0806
    static let broadcastMAC: [UInt8] = Array(repeating: 0xFF, count: 6)

    static func etherType(_ frame: [UInt8]) -> UInt16? {
        frame.count >= 14 ? UInt16(frame[12]) << 8 | UInt16(frame[13]) : nil
    }

    static func destinationMAC(_ frame: [UInt8]) -> [UInt8] { Array(frame.prefix(6)) }
    static func sourceMAC(_ frame: [UInt8]) -> [UInt8] { Array(frame.dropFirst(6).prefix(6)) }
    static func body(_ frame: [UInt8]) -> [UInt8] { Array(frame.dropFirst(14)) }
}

/// RFC 1071 over `bytes` read as big-endian 16-bit words, an odd last byte
/// padded with a zero.
func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count {
        sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
        i += 2
    }
    if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}

/// A FLIP data packet (not an ESP) as a test reads it from a captured body.
struct FLIPPacket: Equatable, CustomStringConvertible {
    var metaBytes: [UInt8]
    var destination: [UInt8] = []
    var type: UInt16?
    var ttl: UInt8?
    var source: [UInt8] = []
    var length: Int?
    var checksum: UInt16?
    /// Offset of the checksum field in `packet`.
    var checksumOffset: Int?
    /// The packet: the body up to Length, or all of it without Length.
    var packet: [UInt8]
    var payload: [UInt8]
    var arpRequest: Bool { metaBytes.count > 1 && metaBytes[1] & 0x02 != 0 }
    var arpReply: Bool { metaBytes.count > 1 && metaBytes[1] & 0x01 != 0 }

    /// Whether the checksum, if present, is right: recomputed with the field
    /// zeroed (never "sum everything and expect 0xFFFF", docs/flip.md §4).
    var checksumIsValid: Bool {
        guard let checksum, let at = checksumOffset else { return true }
        var zeroed = packet
        zeroed[at] = 0
        zeroed[at + 1] = 0
        return internetChecksum(zeroed) == checksum
    }

    /// `nil` for an ESP, a truncated packet or one this reading does not
    /// know (a fourth meta byte, reserved bits).
    init?(body: [UInt8]) {
        guard let first = body.first, first & 0x40 == 0 else { return nil }
        var meta = [first]
        while meta.last! & 0x80 != 0 {
            guard meta.count < 3, meta.count < body.count else { return nil }
            meta.append(body[meta.count])
        }
        guard meta.count < 3 || meta[2] & 0x9F == 0 else { return nil }
        metaBytes = meta
        let b1 = meta[0], b2 = meta.count > 1 ? meta[1] : 0, b3 = meta.count > 2 ? meta[2] : 0
        let sizes = [0, 2, 4, 16]
        var at = meta.count
        func take(_ n: Int) -> [UInt8]? {
            guard at + n <= body.count else { return nil }
            defer { at += n }
            return Array(body[at..<(at + n)])
        }
        func word(_ bytes: [UInt8]) -> UInt16 { UInt16(bytes[0]) << 8 | UInt16(bytes[1]) }
        if b1 & 0x20 != 0 { guard take(1) != nil else { return nil } }
        guard let d = take(sizes[Int(b1 >> 3) & 3]) else { return nil }
        destination = d
        if b1 & 0x04 != 0 { guard let t = take(2) else { return nil }; type = word(t) }
        if b1 & 0x02 != 0 { guard let t = take(1) else { return nil }; ttl = t[0] }
        if b1 & 0x01 != 0 { guard take(4) != nil else { return nil } }
        guard let s = take(sizes[Int(b2 >> 5) & 3]) else { return nil }
        source = s
        if b2 & 0x10 != 0 { guard let l = take(2) else { return nil }; length = Int(word(l)) }
        if b2 & 0x08 != 0 {
            checksumOffset = at
            guard let k = take(2) else { return nil }
            checksum = word(k)
        }
        if b3 & 0x40 != 0 { guard take(2) != nil else { return nil } }
        let end = length ?? body.count
        guard end >= at, end <= body.count else { return nil }
        packet = Array(body[0..<end])
        payload = Array(body[at..<end])
    }

    var description: String {
        "FLIP(meta \(hexString(metaBytes)) dst \(FLIPAddress.format(destination)) src \(FLIPAddress.format(source))"
            + " type \(type.map { "0x" + String($0, radix: 16) } ?? "-") ttl \(ttl.map(String.init) ?? "-")"
            + " length \(length.map(String.init) ?? "-") checksum \(checksum.map { "0x" + String($0, radix: 16) } ?? "-")"
            + " payload \(payload.count) bytes)"
    }
}

/// An RFC 826 message for IPv4 over Ethernet (docs/flip.md §8.3).
struct RFC826Message: Equatable {
    var operation: UInt16
    var senderMAC: [UInt8], senderAddress: [UInt8]
    var targetMAC: [UInt8], targetAddress: [UInt8]

    /// `nil` unless the body is a valid RFC 826 IPv4/Ethernet request or reply.
    init?(body: [UInt8]) {
        guard body.count >= 28, body[0] == 0, body[1] == 1, body[2] == 0x08, body[3] == 0x00,
              body[4] == 6, body[5] == 4, body[6] == 0, body[7] == 1 || body[7] == 2
        else { return nil }
        operation = UInt16(body[7])
        senderMAC = Array(body[8..<14])
        senderAddress = Array(body[14..<18])
        targetMAC = Array(body[18..<24])
        targetAddress = Array(body[24..<28])
    }
}

/// FLIP addresses as `fbctl` writes them: `10.0.0.2`, `0xabcd`, and an
/// object id as 32 hex digits (with or without `0x`).
enum FLIPAddress {
    static func parse(_ text: some StringProtocol) -> [UInt8]? {
        let text = String(text)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4 {
            let bytes = parts.compactMap { UInt8($0) }
            return bytes.count == 4 ? bytes : nil
        }
        let digits = text.lowercased().hasPrefix("0x") ? text.dropFirst(2) : Substring(text)
        guard digits.count == 32 || (digits.count == 4 && text.lowercased().hasPrefix("0x")),
              digits.allSatisfy(\.isHexDigit)
        else { return nil }
        return hexBytes(String(digits))
    }

    static func format(_ bytes: [UInt8]) -> String {
        switch bytes.count {
        case 0: return "-"
        case 4: return bytes.map(String.init).joined(separator: ".")
        case 2: return "0x" + hexString(bytes)
        default: return hexString(bytes)
        }
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func macString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
}
