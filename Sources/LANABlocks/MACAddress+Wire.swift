import LANACore
import LANAPosix

/// The link address on the data path: read from and written to frames
/// without allocating, parsed from option values.
extension MACAddress {
    /// The 48 bits, first byte most significant (``rawValue``).
    @inline(__always)
    public var value: UInt64 { rawValue }

    public init(value: UInt64) {
        precondition(value >> 48 == 0, "MAC address value \(value) has more than 48 bits")
        self.init(rawValue: value)
    }

    /// Reads 6 bytes at `pointer` (any alignment).
    @inline(__always)
    public init(at pointer: UnsafeRawPointer) {
        let high = UInt16(bigEndian: pointer.loadUnaligned(as: UInt16.self))
        let low = UInt32(bigEndian: pointer.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        self.init(rawValue: UInt64(high) << 32 | UInt64(low))
    }

    /// The source address of the Ethernet frame at `frame` (its bytes 6–11)
    /// as the bytes lie in memory, read as one little-endian word: what the
    /// data path stores and compares, without byte swaps
    /// (``init(wireWord:)`` turns it back into an address). One load of
    /// the source and the EtherType after it, which every frame has.
    @inline(__always)
    public static func wireWord(ofSourceIn frame: UnsafeRawPointer) -> UInt64 {
        frame.loadUnaligned(fromByteOffset: 6, as: UInt64.self) & 0xFFFF_FFFF_FFFF
    }

    /// The address whose bytes read as `wireWord` (see ``wireWord(ofSourceIn:)``).
    @inline(__always)
    public init(wireWord: UInt64) { self.init(rawValue: (wireWord << 16).byteSwapped) }

    /// This address's bytes read as one little-endian word.
    @inline(__always)
    public var wireWord: UInt64 { rawValue.byteSwapped >> 16 }

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
        self.init(rawValue: value)
    }

    /// `init?(parsing:)` with an error that names the text and the accepted
    /// form, for option values.
    public static func parse(_ text: Substring) throws(BlockOptionError) -> MACAddress {
        guard let mac = MACAddress(parsing: text) else {
            throw BlockOptionError(
                "'\(text)' is not a MAC address, expected six hex pairs separated by ':' or '-' (02:00:00:00:00:01)")
        }
        return mac
    }

    /// Writes the 6 bytes at `pointer` (any alignment).
    @inline(__always)
    public func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: UInt16(truncatingIfNeeded: rawValue >> 32).bigEndian, as: UInt16.self)
        pointer.storeBytes(of: UInt32(truncatingIfNeeded: rawValue).bigEndian, toByteOffset: 2, as: UInt32.self)
    }

    public static var broadcast: MACAddress { MACAddress(rawValue: 0xFFFF_FFFF_FFFF) }
    public static var zero: MACAddress { MACAddress(rawValue: 0) }

    public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }

    /// The group bit (least significant bit of the first byte): multicast,
    /// broadcast included.
    @inline(__always)
    public var isMulticast: Bool { rawValue & (1 << 40) != 0 }
}

/// The value of one hex digit, or nil.
func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
