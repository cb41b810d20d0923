/// Meta-header bit masks (docs/flip.md §2).
enum FLIPMeta {
    static let more: UInt8 = 0x80
    // Byte 1.
    static let esp: UInt8 = 0x40
    static let version: UInt8 = 0x20
    static let destinationShift: UInt8 = 3
    static let type: UInt8 = 0x04
    static let ttl: UInt8 = 0x02
    static let flow: UInt8 = 0x01
    // Byte 2.
    static let sourceShift: UInt8 = 5
    static let length: UInt8 = 0x10
    static let checksum: UInt8 = 0x08
    static let dontFragment: UInt8 = 0x04
    static let arpRequest: UInt8 = 0x02
    static let arpReply: UInt8 = 0x01
    // Byte 3.
    static let fragmentOffset: UInt8 = 0x40
    static let lastFragment: UInt8 = 0x20
    static let reserved: UInt8 = 0x1F
}

extension FLIPHeader {
    /// Parses and validates a FLIP body (everything after the EtherType) in
    /// the order of docs/flip.md §6, so that a packet with several faults
    /// is dropped for the first one. `arp` admits the ARP
    /// request/reply flags, which a data frame must not carry.
    public static func parse(_ body: UnsafeRawBufferPointer, arp: Bool = false) -> FLIPParseResult {
        var fields = FLIPFields()
        var layout = FLIPLayout()
        switch withUnsafeMutablePointer(to: &fields, { parse(body, arp: arp, fields: $0, layout: &layout) }) {
        case .packet: return .packet(FLIPHeader(fields: fields, layout: layout))
        case .esp(let esp): return .esp(esp)
        case .drop(let reason): return .drop(reason)
        }
    }

    /// The parser of the data path: the same checks as ``parse(_:arp:)``,
    /// the fields written where `fields` points (a packet's metadata: one
    /// store per field, no copy of a whole header) and their places in
    /// `layout`. On a drop, what it wrote is meaningless.
    @inline(__always)
    public static func parse(_ body: UnsafeRawBufferPointer, arp: Bool = false,
                             fields: UnsafeMutablePointer<FLIPFields>, layout: inout FLIPLayout) -> FLIPParseStatus {
        let count = body.count
        guard count > 0, let base = body.baseAddress else { return .drop(.emptyBody) }
        @inline(__always) func byte(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
        @inline(__always) func word(_ i: Int) -> UInt16 { UInt16(bigEndian: base.loadUnaligned(fromByteOffset: i, as: UInt16.self)) }

        let m1 = byte(0)
        if m1 & FLIPMeta.esp != 0 {
            if m1 & FLIPMeta.more == 0 { return .esp(FLIPESP(value: UInt16(m1 & 0x3F), width: 6)) }
            guard count >= 2 else { return .drop(.truncated) }
            return .esp(FLIPESP(value: UInt16(m1 & 0x3F) << 8 | UInt16(byte(1)), width: 14))
        }

        var m2: UInt8 = 0, m3: UInt8 = 0, metaLength = 1
        if m1 & FLIPMeta.more != 0 {
            guard count >= 2 else { return .drop(.truncated) }
            m2 = byte(1)
            metaLength = 2
            if m2 & FLIPMeta.more != 0 {
                guard count >= 3 else { return .drop(.truncated) }
                m3 = byte(2)
                metaLength = 3
                if m3 & FLIPMeta.more != 0 { return .drop(.fourthMetaByte) }
            }
        }
        if !arp && m2 & (FLIPMeta.arpRequest | FLIPMeta.arpReply) != 0 { return .drop(.arpFlagInData) }
        if m3 & FLIPMeta.reserved != 0 { return .drop(.reservedBit) }

        let hasVersion = m1 & FLIPMeta.version != 0
        let destinationCode = (m1 >> FLIPMeta.destinationShift) & 3
        let hasType = m1 & FLIPMeta.type != 0
        let hasTTL = m1 & FLIPMeta.ttl != 0
        let hasFlow = m1 & FLIPMeta.flow != 0
        let sourceCode = (m2 >> FLIPMeta.sourceShift) & 3
        let hasLength = m2 & FLIPMeta.length != 0
        let hasChecksum = m2 & FLIPMeta.checksum != 0
        let hasOffset = m3 & FLIPMeta.fragmentOffset != 0

        var headerLength = metaLength
        headerLength &+= hasVersion ? 1 : 0
        headerLength &+= FLIPAddress.size(code: destinationCode)
        headerLength &+= hasType ? 2 : 0
        headerLength &+= hasTTL ? 1 : 0
        headerLength &+= hasFlow ? 4 : 0
        headerLength &+= FLIPAddress.size(code: sourceCode)
        headerLength &+= hasLength ? 2 : 0
        headerLength &+= hasChecksum ? 2 : 0
        headerLength &+= hasOffset ? 2 : 0
        guard count >= headerLength else { return .drop(.truncated) }

        let f = fields
        f.pointee.hasLength = hasLength
        f.pointee.hasChecksum = hasChecksum
        f.pointee.dontFragment = m2 & FLIPMeta.dontFragment != 0
        f.pointee.lastFragment = m3 & FLIPMeta.lastFragment != 0
        f.pointee.arpRequest = m2 & FLIPMeta.arpRequest != 0
        f.pointee.arpReply = m2 & FLIPMeta.arpReply != 0
        var at = metaLength
        if hasVersion {
            let v = byte(at)
            if v & 0xF0 != 0 { return .drop(.version) }
            f.pointee.priority = v
            at &+= 1
        } else {
            f.pointee.priority = nil
        }
        if let kind = FLIPAddress.Kind(rawValue: destinationCode) {
            f.pointee.destination = FLIPAddress(kind: kind, at: base + at)
            at &+= kind.size
        } else {
            f.pointee.destination = nil
        }
        if hasType {
            f.pointee.type = word(at)
            at &+= 2
        } else {
            f.pointee.type = nil
        }
        var ttlOffset = -1
        if hasTTL {
            ttlOffset = at
            f.pointee.ttl = byte(at)
            at &+= 1
        } else {
            f.pointee.ttl = nil
        }
        if hasFlow {
            f.pointee.flow = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            at &+= 4
        } else {
            f.pointee.flow = nil
        }
        if let kind = FLIPAddress.Kind(rawValue: sourceCode) {
            f.pointee.source = FLIPAddress(kind: kind, at: base + at)
            at &+= kind.size
        } else {
            f.pointee.source = nil
        }
        var packetLength = count
        layout.length = nil
        if hasLength {
            let l = word(at)
            guard Int(l) >= headerLength && Int(l) <= count else { return .drop(.length) }
            layout.length = l
            packetLength = Int(l)
            at &+= 2
        }
        var checksumOffset = -1
        layout.checksum = nil
        if hasChecksum {
            checksumOffset = at
            let c = word(at)
            guard FLIPChecksum.compute(base, count: packetLength, skipping: at) == c else {
                return .drop(.checksum)
            }
            layout.checksum = c
            at &+= 2
        }
        f.pointee.fragmentOffset = nil
        if hasOffset {
            let offset = word(at)
            // Only a "fragment" that is the whole packet is acceptable without reassembly.
            guard offset == 0 && m3 & FLIPMeta.lastFragment != 0 else { return .drop(.fragment) }
            f.pointee.fragmentOffset = offset
        }
        layout.meta = (m1, m2, m3)
        layout.metaLength = metaLength
        layout.headerLength = headerLength
        layout.packetLength = packetLength
        layout.ttlOffset = ttlOffset
        layout.checksumOffset = checksumOffset
        return .packet
    }
}

extension FLIPHeader {
    /// The 4-byte Source of a FLIP data packet, read without validating
    /// anything else (`arp` checks with it whether a packet teaches the
    /// table something new before it parses the packet in full). `nil`
    /// for an ESP or a packet without a 4-byte Source.
    @inline(__always)
    public static func peekIPv4Source(_ body: UnsafeRawBufferPointer) -> FLIPAddress? {
        guard body.count >= 2, let base = body.baseAddress else { return nil }
        let m1 = base.load(as: UInt8.self)
        let m2 = base.load(fromByteOffset: 1, as: UInt8.self)
        guard m1 & (FLIPMeta.more | FLIPMeta.esp) == FLIPMeta.more,
              (m2 >> FLIPMeta.sourceShift) & 3 == FLIPAddress.Kind.ipv4.rawValue else { return nil }
        var at = m2 & FLIPMeta.more != 0 ? 3 : 2
        if m1 & FLIPMeta.version != 0 { at &+= 1 }
        let d = Int((m1 >> FLIPMeta.destinationShift) & 3)
        at &+= d == 0 ? 0 : d == 1 ? 2 : d == 2 ? 4 : 16
        if m1 & FLIPMeta.type != 0 { at &+= 2 }
        if m1 & FLIPMeta.ttl != 0 { at &+= 1 }
        if m1 & FLIPMeta.flow != 0 { at &+= 4 }
        guard body.count >= at &+ 4 else { return nil }
        return FLIPAddress(kind: .ipv4, at: base + at)
    }
}

/// The Internet checksum (RFC 1071) over a FLIP packet (docs/flip.md §4).
public enum FLIPChecksum {
    /// The checksum of `count` bytes at `base`, reading the two bytes at
    /// `skipping` as zero (pass -1 to skip nothing). The field may sit at an
    /// odd offset, so it is left out of the sum rather than verified by the
    /// "sum to 0xFFFF" shortcut.
    ///
    /// Summed 8 bytes at a time in the machine's byte order (RFC 1071 §2:
    /// the one's-complement sum does not depend on byte order; the result
    /// is swapped back at the end), then the skipped field's share taken
    /// out again (one's-complement subtraction: adding its complement).
    /// That differs from summing around the field only when every other
    /// byte is zero (0x0000 instead of 0xFFFF), which a packet with a
    /// checksum never is: its second meta byte has the K bit.
    @inline(__always)
    public static func compute(_ base: UnsafeRawPointer, count: Int, skipping: Int = -1) -> UInt16 {
        ~sum(base, count: count, skipping: skipping)
    }

    /// The one's-complement sum itself (not complemented), folded to 16
    /// bits in network order, of `count` bytes starting at an even offset
    /// of the packet (see ``compute(_:count:skipping:)``).
    @inline(__always)
    public static func sum(_ base: UnsafeRawPointer, count: Int, skipping: Int = -1) -> UInt16 {
        var sum: UInt64 = 0
        var i = 0
        while i &+ 8 <= count {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            sum &+= (w & 0xFFFF_FFFF) &+ (w >> 32)
            i &+= 8
        }
        if i &+ 4 <= count {
            sum &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            i &+= 4
        }
        if i &+ 2 <= count {
            sum &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i &+= 2
        }
        // An odd last byte (at an even offset): the high byte of its
        // network-order word, wherever that sits in a machine-order one.
        if i < count { sum &+= UInt64(UInt16(base.load(fromByteOffset: i, as: UInt8.self)).littleEndian) }
        if skipping >= 0 {
            // The field's bytes, in the same (machine) order they were summed in.
            let field = base.loadUnaligned(fromByteOffset: skipping, as: UInt16.self)
            let share = skipping & 1 == 0 ? field : field.byteSwapped
            sum &+= UInt64(~share)
        }
        sum = (sum & 0xFFFF_FFFF) &+ (sum >> 32)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        // Host order back to network order.
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: sum))
    }

    /// The reference computation, two bytes at a time in network order
    /// (what the tests compare the fast one against).
    public static func reference(_ base: UnsafeRawPointer, count: Int, skipping: Int = -1) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        func byte(_ j: Int) -> UInt32 { skipping >= 0 && (j == skipping || j == skipping + 1) ? 0 : UInt32(base.load(fromByteOffset: j, as: UInt8.self)) }
        while i + 1 < count {
            sum += byte(i) << 8 | byte(i + 1)
            i += 2
        }
        if i < count { sum += byte(i) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
