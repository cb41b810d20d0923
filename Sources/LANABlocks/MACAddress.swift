import LANACore

/// An Ethernet (EUI-48) address, held as one integer so that it costs no
/// allocation on the data path and compares and hashes as a word.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    /// The 48 bits, first byte most significant; the top 16 bits are 0.
    public let value: UInt64

    public init(value: UInt64) {
        precondition(value >> 48 == 0, "MAC address value \(value) has more than 48 bits")
        self.value = value
    }

    /// Reads 6 bytes at `pointer` (any alignment).
    public init(at pointer: UnsafeRawPointer) {
        let high = UInt16(bigEndian: pointer.loadUnaligned(as: UInt16.self))
        let low = UInt32(bigEndian: pointer.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        self.value = UInt64(high) << 32 | UInt64(low)
    }

    /// An address from its bytes; nil unless there are exactly 6.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.value = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Six pairs of hex digits (either case) separated by `:` or by `-`
    /// throughout, as in `02:00:00:00:00:01` or `02-00-00-00-00-01`; nil for
    /// anything else.
    public init?(parsing text: Substring) {
        let utf8 = text.utf8
        guard utf8.count == 17 else { return nil }
        var value: UInt64 = 0
        var separator: UInt8 = 0
        for (i, c) in utf8.enumerated() {
            if i % 3 == 2 {
                guard c == UInt8(ascii: ":") || c == UInt8(ascii: "-"), separator == 0 || c == separator else {
                    return nil
                }
                separator = c
            } else {
                guard let digit = hexDigitValue(c) else { return nil }
                value = value << 4 | UInt64(digit)
            }
        }
        self.value = value
    }

    /// `init?(parsing:)` with an error that names the text and the accepted form,
    /// for option values.
    public static func parse(_ text: Substring) throws(BlockOptionError) -> MACAddress {
        guard let mac = MACAddress(parsing: text) else {
            throw BlockOptionError(
                "'\(text)' is not a MAC address, expected six hex pairs separated by ':' or '-' (02:00:00:00:00:01)")
        }
        return mac
    }

    /// Writes the 6 bytes at `pointer` (any alignment).
    public func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: UInt16(truncatingIfNeeded: value >> 32).bigEndian, as: UInt16.self)
        pointer.storeBytes(of: UInt32(truncatingIfNeeded: value).bigEndian, toByteOffset: 2, as: UInt32.self)
    }

    public static let broadcast = MACAddress(value: 0xFFFF_FFFF_FFFF)
    public static let zero = MACAddress(value: 0)

    public var isBroadcast: Bool { value == 0xFFFF_FFFF_FFFF }

    /// The group bit (least significant bit of the first byte): multicast,
    /// broadcast included.
    public var isMulticast: Bool { value & (1 << 40) != 0 }

    public var bytes: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * $0)) } }

    /// Lowercase hex pairs joined by `:`, which `init?(parsing:)` reads back.
    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}

/// The value of an ASCII hex digit of either case, nil for any other byte.
@inline(__always)
func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
