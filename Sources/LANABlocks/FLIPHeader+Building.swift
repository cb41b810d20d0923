extension FLIPFields {
    /// The fewest meta bytes that carry these fields and flags.
    @inline(__always)
    public var metaLength: Int {
        if fragmentOffset != nil || lastFragment { return 3 }
        if source != nil || hasLength || hasChecksum || dontFragment || arpRequest || arpReply { return 2 }
        return 1
    }

    /// Meta-header plus fields, in bytes.
    @inline(__always)
    public var headerLength: Int {
        var n = metaLength
        n &+= priority != nil ? 1 : 0
        n &+= destination?.size ?? 0
        n &+= type != nil ? 2 : 0
        n &+= ttl != nil ? 1 : 0
        n &+= flow != nil ? 4 : 0
        n &+= source?.size ?? 0
        n &+= hasLength || hasChecksum ? 2 : 0
        n &+= hasChecksum ? 2 : 0
        n &+= fragmentOffset != nil ? 2 : 0
        return n
    }

    /// Writes the minimal header (docs/flip.md §8) for these fields at the
    /// start of `packet`, whose payload the caller has already put at
    /// `headerLength`, then the Length and, last, the Checksum over the whole
    /// packet. Returns the packet length. Length is set whenever the checksum is, since without
    /// it a receiver could not tell link padding from payload.
    @discardableResult
    public func write(into packet: UnsafeMutableRawBufferPointer, payloadLength: Int) throws(FLIPBuildError) -> Int {
        try write(into: packet, headerLength: headerLength, payloadLength: payloadLength)
    }

    /// ``write(into:payloadLength:)`` for a caller that already knows
    /// ``headerLength`` (it made room for it).
    @inline(__always)
    @discardableResult
    public func write(into packet: UnsafeMutableRawBufferPointer, headerLength: Int,
                      payloadLength: Int) throws(FLIPBuildError) -> Int {
        let total = headerLength &+ payloadLength
        guard let base = packet.baseAddress, packet.count >= total else {
            throw .bufferTooSmall(needed: total, available: packet.count)
        }
        if let priority, priority > 15 { throw .priority(priority) }
        guard total <= Int(UInt16.max) else { throw .tooLong(total) }

        // The header's share of the checksum is summed from the values
        // as they are written (a field of `width` bytes ending at an even
        // offset counts as its value, at an odd one as its value × 256):
        // reading the header back right after its narrow stores would wait
        // on every one of them.
        var headerSum: UInt64 = 0
        @inline(__always) func add(_ value: UInt64, _ width: Int, _ at: Int) {
            let folded = (value & 0xFFFF_FFFF) &+ (value >> 32)
            headerSum &+= (at &+ width) & 1 == 0 ? folded : folded << 8
        }
        let withLength = hasLength || hasChecksum
        let hasByte3 = fragmentOffset != nil || lastFragment
        let hasByte2 = hasByte3 || source != nil || withLength || dontFragment || arpRequest || arpReply
        var m1: UInt8 = hasByte2 ? FLIPMeta.more : 0
        if priority != nil { m1 |= FLIPMeta.version }
        m1 |= (destination?.kind.rawValue ?? 0) << FLIPMeta.destinationShift
        if type != nil { m1 |= FLIPMeta.type }
        if ttl != nil { m1 |= FLIPMeta.ttl }
        if flow != nil { m1 |= FLIPMeta.flow }
        base.storeBytes(of: m1, as: UInt8.self)
        add(UInt64(m1), 1, 0)
        var at = 1
        if hasByte2 {
            var m2: UInt8 = hasByte3 ? FLIPMeta.more : 0
            m2 |= (source?.kind.rawValue ?? 0) << FLIPMeta.sourceShift
            if withLength { m2 |= FLIPMeta.length }
            if hasChecksum { m2 |= FLIPMeta.checksum }
            if dontFragment { m2 |= FLIPMeta.dontFragment }
            if arpRequest { m2 |= FLIPMeta.arpRequest }
            if arpReply { m2 |= FLIPMeta.arpReply }
            base.storeBytes(of: m2, toByteOffset: 1, as: UInt8.self)
            add(UInt64(m2), 1, 1)
            at = 2
            if hasByte3 {
                var m3: UInt8 = 0
                if fragmentOffset != nil { m3 |= FLIPMeta.fragmentOffset }
                if lastFragment { m3 |= FLIPMeta.lastFragment }
                base.storeBytes(of: m3, toByteOffset: 2, as: UInt8.self)
                add(UInt64(m3), 1, 2)
                at = 3
            }
        }
        if let priority {
            base.storeBytes(of: priority, toByteOffset: at, as: UInt8.self)
            add(UInt64(priority), 1, at)
            at &+= 1
        }
        if let destination {
            destination.write(to: base + at)
            destination.addToSum(add, at)
            at &+= destination.size
        }
        if let type {
            base.storeBytes(of: type.bigEndian, toByteOffset: at, as: UInt16.self)
            add(UInt64(type), 2, at)
            at &+= 2
        }
        if let ttl {
            base.storeBytes(of: ttl, toByteOffset: at, as: UInt8.self)
            add(UInt64(ttl), 1, at)
            at &+= 1
        }
        if let flow {
            base.storeBytes(of: flow.bigEndian, toByteOffset: at, as: UInt32.self)
            add(UInt64(flow), 4, at)
            at &+= 4
        }
        if let source {
            source.write(to: base + at)
            source.addToSum(add, at)
            at &+= source.size
        }
        if withLength {
            base.storeBytes(of: UInt16(truncatingIfNeeded: total).bigEndian, toByteOffset: at, as: UInt16.self)
            add(UInt64(total), 2, at)
            at &+= 2
        }
        let checksumAt = at
        if hasChecksum { at &+= 2 }
        if let fragmentOffset {
            base.storeBytes(of: fragmentOffset.bigEndian, toByteOffset: at, as: UInt16.self)
            add(UInt64(fragmentOffset), 2, at)
        }
        if hasChecksum {
            // The payload from memory (written long before), its share
            // turned by a byte if it starts at an odd offset.
            var payloadSum = UInt64(FLIPChecksum.sum(base + headerLength, count: payloadLength))
            if headerLength & 1 == 1 { payloadSum = (payloadSum << 8 | payloadSum >> 8) & 0xFFFF }
            var sum = headerSum &+ payloadSum
            sum = (sum & 0xFFFF_FFFF) &+ (sum >> 32)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            let c = ~UInt16(truncatingIfNeeded: sum)
            base.storeBytes(of: c.bigEndian, toByteOffset: checksumAt, as: UInt16.self)
        }
        return total
    }
}

extension FLIPESP {
    /// Writes the ESP (1 byte for width 6, 2 for width 14) and returns its length.
    @discardableResult
    public func write(into packet: UnsafeMutableRawBufferPointer) throws(FLIPBuildError) -> Int {
        let needed = width == 6 ? 1 : 2
        guard (width == 6 && value < 0x40) || (width == 14 && value < 0x4000) else {
            throw .espValue(value, width: width)
        }
        guard let base = packet.baseAddress, packet.count >= needed else {
            throw .bufferTooSmall(needed: needed, available: packet.count)
        }
        if width == 6 {
            base.storeBytes(of: FLIPMeta.esp | UInt8(value), as: UInt8.self)
        } else {
            base.storeBytes(of: FLIPMeta.more | FLIPMeta.esp | UInt8(value >> 8), as: UInt8.self)
            base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: 1, as: UInt8.self)
        }
        return needed
    }
}

/// What a forwarder does with a parsed packet.
public enum FLIPForwardResult: Equatable, Sendable {
    /// TTL decremented (and the checksum recomputed when present).
    case decremented
    /// No TTL field: forwarded as is.
    case unchanged
    case drop(FLIPDropReason)
}

extension FLIPHeader {
    /// The forwarding update of docs/flip.md §7, in place: TTL down by one
    /// and the checksum updated; no other byte changes. `packet` is the
    /// body that this header was parsed from.
    public func forward(_ packet: UnsafeMutableRawBufferPointer) -> FLIPForwardResult {
        layout.forward(packet)
    }
}

extension FLIPLayout {
    /// The forwarding update of docs/flip.md §7 on the body this layout
    /// was parsed from: TTL down by one (read from the packet), checksum
    /// updated; no other byte changes.
    ///
    /// The checksum is updated incrementally (RFC 1624, eqn. 3) from the
    /// one `parse` verified: only the TTL byte changed, by one, in the high
    /// or the low half of its 16-bit word. That gives exactly what a full
    /// recomputation gives (docs/flip.md §7), because a FLIP packet is never
    /// all zeros, so its sum is never the one's-complement zero where the
    /// two could differ; the tests check it against `FLIPChecksum.reference`.
    @inline(__always)
    public func forward(_ packet: UnsafeMutableRawBufferPointer) -> FLIPForwardResult {
        guard ttlOffset >= 0, let base = packet.baseAddress else { return .unchanged }
        let ttl = base.load(fromByteOffset: ttlOffset, as: UInt8.self)
        guard ttl > 1 else { return .drop(.ttlExpired) }
        base.storeBytes(of: ttl &- 1, toByteOffset: ttlOffset, as: UInt8.self)
        if checksumOffset >= 0, let old = checksum {
            // HC' = ~(~HC + ~m + m'), where m' = m - 0x0100 (TTL in the high
            // half) or m - 1 (low half): ~m + m' is the complement of that step.
            var sum = UInt32(~old) &+ (ttlOffset & 1 == 0 ? 0xFEFF : 0xFFFE)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            let c = ~UInt16(truncatingIfNeeded: sum)
            base.storeBytes(of: c.bigEndian, toByteOffset: checksumOffset, as: UInt16.self)
        }
        return .decremented
    }
}
