/// A FLIP address of one of the three sizes that the format defines: 2 bytes,
/// 4 bytes (IPv4) or 16 bytes (object id). The bytes are kept inline, in wire
/// order, so that an address costs no allocation on the data path.
public struct FLIPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The size code of the meta-header (`D` and `S` bits).
    public enum Kind: UInt8, Sendable, CaseIterable {
        case short = 1
        case ipv4 = 2
        case objectID = 3

        public var size: Int {
            switch self {
            case .short: 2
            case .ipv4: 4
            case .objectID: 16
            }
        }
    }

    public let kind: Kind
    /// Bytes 0–7 and 8–15 as big-endian words; bytes past `kind.size` are 0.
    let high: UInt64
    let low: UInt64

    /// Reads `kind.size` bytes at `pointer`.
    @inline(__always)
    public init(kind: Kind, at pointer: UnsafeRawPointer) {
        switch kind {
        case .short:
            high = UInt64(UInt16(bigEndian: pointer.loadUnaligned(as: UInt16.self))) << 48
            low = 0
        case .ipv4:
            high = UInt64(UInt32(bigEndian: pointer.loadUnaligned(as: UInt32.self))) << 32
            low = 0
        case .objectID:
            high = UInt64(bigEndian: pointer.loadUnaligned(as: UInt64.self))
            low = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        self.kind = kind
    }

    /// An address from its bytes; nil unless there are 2, 4 or 16 of them.
    public init?(_ bytes: [UInt8]) {
        guard let kind = Kind.allCases.first(where: { $0.size == bytes.count }) else { return nil }
        self = bytes.withUnsafeBytes { FLIPAddress(kind: kind, at: $0.baseAddress!) }
    }

    public static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> FLIPAddress {
        FLIPAddress([a, b, c, d])!
    }

    /// The all-ones address of a size: broadcast (docs/flip.md §3).
    public static func broadcast(_ kind: Kind) -> FLIPAddress {
        FLIPAddress([UInt8](repeating: 0xFF, count: kind.size))!
    }

    public var size: Int { kind.size }

    /// Bytes of an address with size code `code` (D or S): 0, 2, 4 or 16.
    @inline(__always)
    static func size(code: UInt8) -> Int {
        // Four 5-bit entries packed in one word: no table in memory.
        Int(truncatingIfNeeded: (UInt32(16 << 15 | 4 << 10 | 2 << 5) >> (UInt32(code & 3) &* 5)) & 0x1F)
    }

    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < kind.size, "FLIP address byte \(index) out of 0..<\(kind.size)")
        return index < 8
            ? UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
            : UInt8(truncatingIfNeeded: low >> (56 - 8 * (index - 8)))
    }

    /// Adds the address's share of a checksum, written at offset `at`,
    /// through `add(value, width, offset)` (see `FLIPFields.write`).
    @inline(__always)
    func addToSum(_ add: (UInt64, Int, Int) -> Void, _ at: Int) {
        switch kind {
        case .short: add(high >> 48, 2, at)
        case .ipv4: add(high >> 32, 4, at)
        case .objectID:
            add(high, 8, at)
            add(low, 8, at &+ 8)
        }
    }

    /// All zeros (0.0.0.0: an RFC 5227 probe's sender, never learned).
    public var isZero: Bool { high == 0 && low == 0 }

    /// All ones over the field's size.
    public var isBroadcast: Bool {
        switch kind {
        case .short: high == 0xFFFF_0000_0000_0000
        case .ipv4: high == 0xFFFF_FFFF_0000_0000
        case .objectID: high == .max && low == .max
        }
    }

    @inline(__always)
    public func write(to pointer: UnsafeMutableRawPointer) {
        switch kind {
        case .short:
            pointer.storeBytes(of: UInt16(truncatingIfNeeded: high >> 48).bigEndian, as: UInt16.self)
        case .ipv4:
            pointer.storeBytes(of: UInt32(truncatingIfNeeded: high >> 32).bigEndian, as: UInt32.self)
        case .objectID:
            pointer.storeBytes(of: high.bigEndian, as: UInt64.self)
            pointer.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
    }

    public var bytes: [UInt8] { (0..<size).map { self[$0] } }

    public var description: String {
        switch kind {
        case .ipv4: return (0..<4).map { String(self[$0]) }.joined(separator: ".")
        case .short, .objectID:
            return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }
}

/// The header fields a FLIP sender chooses and a receiver reads (docs/flip.md
/// §3). An optional field is present on the wire iff it
/// is non-nil; flags without a field are plain booleans.
public struct FLIPFields: Equatable, Sendable {
    // Stored widest first: the fields travel in a packet's annotation area
    // (FLIPMetadata), where every byte of padding counts.
    public var destination: FLIPAddress?
    public var source: FLIPAddress?
    public var flow: UInt32?
    public var type: UInt16?
    public var fragmentOffset: UInt16?
    /// The low nibble of the version byte; the version itself is always 0.
    public var priority: UInt8?
    public var ttl: UInt8?
    /// Carry the Length field (forced when `hasChecksum`).
    public var hasLength: Bool
    public var hasChecksum: Bool
    public var dontFragment: Bool
    public var lastFragment: Bool
    /// ARP-over-FLIP flags; only legal under the ARP EtherType.
    public var arpRequest: Bool
    public var arpReply: Bool

    public init(
        priority: UInt8? = nil, destination: FLIPAddress? = nil, type: UInt16? = nil, ttl: UInt8? = nil,
        flow: UInt32? = nil, source: FLIPAddress? = nil, hasLength: Bool = false, hasChecksum: Bool = false,
        fragmentOffset: UInt16? = nil, dontFragment: Bool = false, lastFragment: Bool = false,
        arpRequest: Bool = false, arpReply: Bool = false
    ) {
        self.priority = priority
        self.destination = destination
        self.type = type
        self.ttl = ttl
        self.flow = flow
        self.source = source
        self.hasLength = hasLength
        self.hasChecksum = hasChecksum
        self.fragmentOffset = fragmentOffset
        self.dontFragment = dontFragment
        self.lastFragment = lastFragment
        self.arpRequest = arpRequest
        self.arpReply = arpReply
    }

    /// The Type that selects the upper gate: absent means raw data, 0x0000.
    public var effectiveType: UInt16 { type ?? 0 }
}

/// An ESP (extra simple packet): a 6- or 14-bit value in the meta-header.
public struct FLIPESP: Equatable, Sendable {
    public var value: UInt16
    /// 6 or 14.
    public var width: UInt8

    public init(value: UInt16, width: UInt8) {
        self.value = value
        self.width = width
    }
}

/// Where a parsed FLIP packet's parts sit in its body: what a forwarder
/// needs to rewrite TTL and checksum in place, and a receiver to find the
/// payload. Kept apart from the fields so that the data path parses the
/// fields straight into a packet's metadata and this small value on the stack.
public struct FLIPLayout: Equatable, Sendable {
    public var meta: (UInt8, UInt8, UInt8) = (0, 0, 0)
    public var metaLength = 0
    public var headerLength = 0
    /// The packet's extent in the body: the Length field, or the whole body.
    public var packetLength = 0
    /// The Length and Checksum values as received.
    public var length: UInt16?
    public var checksum: UInt16?
    /// Byte offsets of TTL and Checksum, -1 when absent.
    public var ttlOffset = -1
    public var checksumOffset = -1

    public init() {}

    public static func == (a: FLIPLayout, b: FLIPLayout) -> Bool {
        a.meta == b.meta && a.metaLength == b.metaLength && a.headerLength == b.headerLength
            && a.packetLength == b.packetLength && a.length == b.length && a.checksum == b.checksum
            && a.ttlOffset == b.ttlOffset && a.checksumOffset == b.checksumOffset
    }
}

/// What the data-path parser says of a body (its fields and layout go
/// where the caller pointed).
public enum FLIPParseStatus: Equatable, Sendable {
    case packet
    case esp(FLIPESP)
    case drop(FLIPDropReason)
}

/// A parsed FLIP packet: its fields plus where they sit, so that a forwarder
/// can rewrite TTL and checksum in place.
public struct FLIPHeader: Equatable, Sendable {
    public var fields: FLIPFields
    /// The raw meta bytes; absent ones read 0.
    public var meta: (UInt8, UInt8, UInt8)
    public var metaLength: Int
    public var headerLength: Int
    /// The packet's extent in the body: the Length field, or the whole body.
    public var packetLength: Int
    /// The Length and Checksum values as received.
    public var length: UInt16?
    public var checksum: UInt16?
    /// Byte offsets of TTL and Checksum, -1 when absent.
    public var ttlOffset: Int
    public var checksumOffset: Int

    public var payloadRange: Range<Int> { headerLength..<packetLength }

    init(fields: FLIPFields, layout l: FLIPLayout) {
        self.fields = fields
        meta = l.meta; metaLength = l.metaLength; headerLength = l.headerLength; packetLength = l.packetLength
        length = l.length; checksum = l.checksum; ttlOffset = l.ttlOffset; checksumOffset = l.checksumOffset
    }

    var layout: FLIPLayout {
        var l = FLIPLayout()
        l.meta = meta; l.metaLength = metaLength; l.headerLength = headerLength; l.packetLength = packetLength
        l.length = length; l.checksum = checksum; l.ttlOffset = ttlOffset; l.checksumOffset = checksumOffset
        return l
    }

    public static func == (a: FLIPHeader, b: FLIPHeader) -> Bool {
        a.fields == b.fields && a.meta == b.meta && a.metaLength == b.metaLength
            && a.headerLength == b.headerLength && a.packetLength == b.packetLength
            && a.length == b.length && a.checksum == b.checksum
            && a.ttlOffset == b.ttlOffset && a.checksumOffset == b.checksumOffset
    }
}

/// Why the codec refused a packet. `counterName` is the reason under which
/// the block counts the drop.
public enum FLIPDropReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case emptyBody
    /// The body ends inside the meta-header or the header fields.
    case truncated
    /// C3 = 1: a fourth meta byte, which this profile does not define.
    case fourthMetaByte
    /// A reserved bit of meta byte 3 is set.
    case reservedBit
    /// Q or P (ARP flags) in a data frame.
    case arpFlagInData
    /// The version nibble is not 0.
    case version
    /// Length below the header length or beyond the body.
    case length
    case checksum
    /// A fragment other than a whole packet: this profile does not reassemble.
    case fragment
    /// Forwarding a packet whose TTL is 1 or less.
    case ttlExpired

    public var counterName: String {
        switch self {
        case .checksum: "checksum"
        case .fragment: "fragment"
        case .ttlExpired: "ttl-expired"
        default: "malformed"
        }
    }

    public var description: String {
        switch self {
        case .emptyBody: "empty body, expected at least one meta byte"
        case .truncated: "body ends inside the header"
        case .fourthMetaByte: "C3 set, expected at most three meta bytes"
        case .reservedBit: "reserved bit set in meta byte 3, expected 0"
        case .arpFlagInData: "ARP request/reply flag in a data frame, expected 0"
        case .version: "version nibble not 0"
        case .length: "Length field below the header length or beyond the body"
        case .checksum: "checksum mismatch"
        case .fragment: "fragment of a larger packet, reassembly not supported"
        case .ttlExpired: "TTL 1 or less at a forwarder"
        }
    }
}

/// What a receiver makes of a body.
public enum FLIPParseResult: Equatable, Sendable {
    case packet(FLIPHeader)
    case esp(FLIPESP)
    case drop(FLIPDropReason)
}

/// Why a header could not be built.
public enum FLIPBuildError: Error, Equatable, Sendable {
    /// The buffer holds fewer bytes than header plus payload.
    case bufferTooSmall(needed: Int, available: Int)
    /// Priority above 15.
    case priority(UInt8)
    /// The packet exceeds what the Length field can express.
    case tooLong(Int)
    /// An ESP value that does not fit its width (6 or 14 bits).
    case espValue(UInt16, width: UInt8)
}
