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
        var shape = FLIPShape.none
        return parse(body, arp: arp, fields: fields, layout: &layout, shape: &shape)
    }

    /// ``parse(_:arp:fields:layout:)`` that also says the shape of the
    /// meta bytes when they are valid (else `shape` is left alone), for a
    /// caller that keeps it to parse the next packets of the same shape
    /// with ``extract(_:_:count:fields:layout:)``.
    @inline(__always)
    static func parse(_ body: UnsafeRawBufferPointer, arp: Bool, fields: UnsafeMutablePointer<FLIPFields>,
                      layout: inout FLIPLayout, shape: inout FLIPShape) -> FLIPParseStatus {
        let count = body.count
        guard count > 0, let base = body.baseAddress else { return .drop(.emptyBody) }
        @inline(__always) func byte(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }

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
        shape = FLIPShape(m1: m1, m2: m2, m3: m3, metaLength: metaLength)
        return extract(shape, base, count: count, fields: fields, layout: &layout)
    }

    /// The checks of docs/flip.md §6 that come after the meta bytes, and
    /// the fields read, for a body whose meta bytes have shape `s`
    /// (validated when the shape was made).
    @inline(__always)
    static func extract(_ s: FLIPShape, _ base: UnsafeRawPointer, count: Int,
                        fields f: UnsafeMutablePointer<FLIPFields>, layout: inout FLIPLayout) -> FLIPParseStatus {
        @inline(__always) func byte(_ i: Int8) -> UInt8 { base.load(fromByteOffset: Int(i), as: UInt8.self) }
        @inline(__always) func word(_ i: Int8) -> UInt16 {
            UInt16(bigEndian: base.loadUnaligned(fromByteOffset: Int(i), as: UInt16.self))
        }
        let headerLength = Int(s.headerLength)
        guard count >= headerLength else { return .drop(.truncated) }
        let m2 = UInt8(truncatingIfNeeded: s.meta >> 8), m3 = UInt8(truncatingIfNeeded: s.meta >> 16)
        if s.versionAt >= 0 && byte(s.versionAt) & 0xF0 != 0 { return .drop(.version) }
        let packetLength: Int
        switch s.checkLength(base, count: count) {
        case .drop(let reason): return .drop(reason)
        case .valid(let l): packetLength = l
        }
        layout.length = s.lengthAt >= 0 ? word(s.lengthAt) : nil
        layout.checksum = s.checksumAt >= 0 ? word(s.checksumAt) : nil
        s.read(base, into: f)
        layout.meta = (UInt8(truncatingIfNeeded: s.meta), m2, m3)
        layout.metaLength = Int(s.metaLength)
        layout.headerLength = headerLength
        layout.packetLength = packetLength
        layout.ttlOffset = Int(s.ttlAt)
        layout.checksumOffset = Int(s.checksumAt)
        return .packet
    }
}

/// Where each field of a FLIP header sits, as its meta bytes say
/// (docs/flip.md §2–3). The data path keeps the last one per engine: the
/// packets of a stream share their meta bytes, so all but the first are
/// parsed by loads at known offsets, without working the layout out again.
struct FLIPShape: Equatable {
    /// The meta bytes, `m1 | m2 << 8 | m3 << 16`, of those present.
    var meta: UInt32
    /// Which bytes of the body's first four are meta bytes. A shape of no
    /// meta bytes at all (``none``) has mask 0 and `meta` 1: it matches no body.
    var mask: UInt32
    var metaLength: Int8
    var headerLength: Int8
    /// `FLIPAddress.Kind` raw values, 0 when absent.
    var destinationKind: UInt8
    var sourceKind: UInt8
    /// Byte offsets in the body, -1 when absent.
    var versionAt: Int8
    var destinationAt: Int8
    var typeAt: Int8
    var ttlAt: Int8
    var flowAt: Int8
    var sourceAt: Int8
    var lengthAt: Int8
    var checksumAt: Int8
    var fragmentAt: Int8
    /// Bytes from the start up to the end of the destination (meta bytes,
    /// version, destination) when they are at most 8, else 0: what makes a
    /// packet "one more of a stream for a local address" (see
    /// `FLIPHeaderCache.deliveryPrefix`).
    var prefixLength: Int8

    static let none = FLIPShape(meta: 1, mask: 0, metaLength: 0, headerLength: 0, destinationKind: 0, sourceKind: 0,
                                versionAt: -1, destinationAt: -1, typeAt: -1, ttlAt: -1, flowAt: -1, sourceAt: -1,
                                lengthAt: -1, checksumAt: -1, fragmentAt: -1, prefixLength: 0)

    private init(meta: UInt32, mask: UInt32, metaLength: Int8, headerLength: Int8, destinationKind: UInt8, sourceKind: UInt8,
                 versionAt: Int8, destinationAt: Int8, typeAt: Int8, ttlAt: Int8, flowAt: Int8, sourceAt: Int8,
                 lengthAt: Int8, checksumAt: Int8, fragmentAt: Int8, prefixLength: Int8) {
        self.meta = meta; self.mask = mask; self.metaLength = metaLength; self.headerLength = headerLength
        self.destinationKind = destinationKind; self.sourceKind = sourceKind; self.versionAt = versionAt
        self.destinationAt = destinationAt; self.typeAt = typeAt; self.ttlAt = ttlAt; self.flowAt = flowAt
        self.sourceAt = sourceAt; self.lengthAt = lengthAt; self.checksumAt = checksumAt; self.fragmentAt = fragmentAt
        self.prefixLength = prefixLength
    }

    /// The shape of valid meta bytes (`m2`, `m3` 0 when absent): the
    /// fields in the order of docs/flip.md §3.
    @inline(__always)
    init(m1: UInt8, m2: UInt8, m3: UInt8, metaLength: Int) {
        self = .none
        meta = UInt32(m1) | UInt32(m2) << 8 | UInt32(m3) << 16
        mask = metaLength == 1 ? 0xFF : metaLength == 2 ? 0xFFFF : 0xFF_FFFF
        self.metaLength = Int8(metaLength)
        var at = Int8(metaLength)
        @inline(__always) func field(_ present: Bool, _ size: Int8) -> Int8 {
            guard present else { return -1 }
            defer { at &+= size }
            return at
        }
        versionAt = field(m1 & FLIPMeta.version != 0, 1)
        destinationKind = (m1 >> FLIPMeta.destinationShift) & 3
        destinationAt = field(destinationKind != 0, Int8(FLIPAddress.size(code: destinationKind)))
        prefixLength = at <= 8 ? at : 0
        typeAt = field(m1 & FLIPMeta.type != 0, 2)
        ttlAt = field(m1 & FLIPMeta.ttl != 0, 1)
        flowAt = field(m1 & FLIPMeta.flow != 0, 4)
        sourceKind = (m2 >> FLIPMeta.sourceShift) & 3
        sourceAt = field(sourceKind != 0, Int8(FLIPAddress.size(code: sourceKind)))
        lengthAt = field(m2 & FLIPMeta.length != 0, 2)
        checksumAt = field(m2 & FLIPMeta.checksum != 0, 2)
        fragmentAt = field(m3 & FLIPMeta.fragmentOffset != 0, 2)
        headerLength = at
    }

    /// Whether a body beginning with these four bytes (read little-endian:
    /// `m1` lowest) has this shape.
    @inline(__always)
    func matches(_ first: UInt32) -> Bool { first & mask == meta }

    /// What the checks after the version byte say of a packet: its length
    /// (by Length, else the body's), or the first fault.
    enum LengthCheck {
        case valid(Int)
        case drop(FLIPDropReason)
    }

    /// For a body of `count` bytes (at least ``headerLength``) with this
    /// shape whose version byte was checked: the checks of docs/flip.md §6
    /// that follow, in order (Length, Checksum, only whole packets). The
    /// one implementation of them, for the full parse and the shape path.
    /// `plain`: the caller knows the shape has neither Checksum nor
    /// fragment offset.
    @inline(__always)
    func checkLength(_ body: UnsafeRawPointer, count: Int, plain: Bool = false) -> LengthCheck {
        @inline(__always) func word(_ i: Int8) -> UInt16 {
            UInt16(bigEndian: body.loadUnaligned(fromByteOffset: Int(i), as: UInt16.self))
        }
        var packetLength = count
        if lengthAt >= 0 {
            let l = Int(word(lengthAt))
            guard l >= Int(headerLength) && l <= count else { return .drop(.length) }
            packetLength = l
        }
        if plain { return .valid(packetLength) }
        if checksumAt >= 0 && FLIPChecksum.compute(body, count: packetLength, skipping: Int(checksumAt)) != word(checksumAt) {
            return .drop(.checksum)
        }
        // Only a "fragment" that is the whole packet (offset 0, last) is
        // acceptable without reassembly.
        if fragmentAt >= 0 && (word(fragmentAt) != 0 || UInt8(truncatingIfNeeded: meta >> 16) & FLIPMeta.lastFragment == 0) {
            return .drop(.fragment)
        }
        return .valid(packetLength)
    }

    /// ``checkLength(_:count:plain:)`` for the shape path: the length, or
    /// `nil` for a fault (the full parse names it).
    @inline(__always)
    func checkedLength(_ body: UnsafeRawPointer, count: Int, plain: Bool = false) -> Int? {
        guard case .valid(let l) = checkLength(body, count: count, plain: plain) else { return nil }
        return l
    }

    /// Reads the fields of a header of this shape at `base` (checked
    /// already) into `f`.
    @inline(__always)
    func read(_ base: UnsafeRawPointer, into f: UnsafeMutablePointer<FLIPFields>) {
        @inline(__always) func byte(_ i: Int8) -> UInt8 { base.load(fromByteOffset: Int(i), as: UInt8.self) }
        @inline(__always) func word(_ i: Int8) -> UInt16 {
            UInt16(bigEndian: base.loadUnaligned(fromByteOffset: Int(i), as: UInt16.self))
        }
        let m2 = UInt8(truncatingIfNeeded: meta >> 8), m3 = UInt8(truncatingIfNeeded: meta >> 16)
        f.pointee.hasLength = m2 & FLIPMeta.length != 0
        f.pointee.hasChecksum = m2 & FLIPMeta.checksum != 0
        f.pointee.dontFragment = m2 & FLIPMeta.dontFragment != 0
        f.pointee.lastFragment = m3 & FLIPMeta.lastFragment != 0
        f.pointee.arpRequest = m2 & FLIPMeta.arpRequest != 0
        f.pointee.arpReply = m2 & FLIPMeta.arpReply != 0
        f.pointee.priority = versionAt >= 0 ? byte(versionAt) : nil
        f.pointee.destination = destinationKind == 0 ? nil
            : FLIPAddress(kind: FLIPAddress.Kind(rawValue: destinationKind).unsafelyUnwrapped, at: base + Int(destinationAt))
        f.pointee.type = typeAt >= 0 ? word(typeAt) : nil
        f.pointee.ttl = ttlAt >= 0 ? byte(ttlAt) : nil
        f.pointee.flow = flowAt >= 0 ? UInt32(bigEndian: base.loadUnaligned(fromByteOffset: Int(flowAt), as: UInt32.self)) : nil
        f.pointee.source = sourceKind == 0 ? nil
            : FLIPAddress(kind: FLIPAddress.Kind(rawValue: sourceKind).unsafelyUnwrapped, at: base + Int(sourceAt))
        f.pointee.fragmentOffset = fragmentAt >= 0 ? word(fragmentAt) : nil
    }
}

extension FLIPFields {
    /// The fields of a header the parser has validated, as its bytes at
    /// `base` (what ``FLIPMetadata`` keeps of a received packet).
    init(validatedHeader base: UnsafeRawPointer) {
        let m1 = base.load(as: UInt8.self)
        let m2 = m1 & FLIPMeta.more != 0 ? base.load(fromByteOffset: 1, as: UInt8.self) : 0
        let m3 = m2 & FLIPMeta.more != 0 ? base.load(fromByteOffset: 2, as: UInt8.self) : 0
        let shape = FLIPShape(m1: m1, m2: m2, m3: m3, metaLength: m2 & FLIPMeta.more != 0 ? 3 : m1 & FLIPMeta.more != 0 ? 2 : 1)
        var fields = FLIPFields()
        shape.read(base, into: &fields)
        self = fields
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
