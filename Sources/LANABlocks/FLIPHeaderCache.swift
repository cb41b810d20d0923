// Unsafe code: one engine's cache of the last FLIP header `flip` built
// and of the last header shape it parsed.
//
// Invariants
// - One slot per engine (cache-line aligned, `slotBytes` each), read and
//   written by that engine only, from `FLIPBlock.process`; freed with the
//   block.
// - A slot is valid when `valid` is 1; then `fields` holds the raw bytes of
//   the FLIPFields the header was built from, and `header` the header bytes
//   right-aligned in 64 bytes (it ends at byte 64), with its Length and
//   Checksum fields zeroed; `headerSum` is the one's-complement sum of those
//   bytes as they sit in a packet (from offset 0).
// - Fields are compared as raw bytes: equal bytes are equal fields (every
//   byte that carries a value is compared); unequal bytes with equal values
//   (an Optional's unused payload) only cost a miss.
// - `shapeAt` holds a `FLIPShape`, initialized to `FLIPShape.none` (which
//   matches no body) and replaced only by shapes of valid meta bytes.
// - `prefixAt`/`prefixMaskAt`: the first bytes (meta bytes up to the end of
//   the destination, `FLIPShape.prefixLength`) of a packet that was
//   delivered locally with the slot's current shape under the configuration
//   whose serial is at `configurationAt` (0: none yet); mask 0 (value 1)
//   when there is none. Cleared whenever the shape may change or the
//   configuration changes, so a body whose first 8 bytes match under the
//   mask has the current shape and a destination that configuration calls
//   local (or broadcast) — and a valid version byte, which is part of the
//   prefix.
// - The memo (`memoAt`, 64 entries of two words per engine) holds pairs the
//   `arp` table below confirmed: `source | generation << 32` and the MAC's
//   wire word (`MACAddress.wireWord(ofSourceIn:)`),
//   at the table generation of the time; cleared with the configuration
//   (which names the arp block). A generation other than the table's makes
//   an entry miss.

import LANACore

/// What makes sending a stream of packets with the same fields cheap: the
/// header is built once, then copied, with only Length and Checksum
/// written per packet — as a socket's cached route and header do.
struct FLIPHeaderCache: @unchecked Sendable {
    static let slotBytes = 256 + memoEntries * 16
    static let memoEntries = 64
    static let fieldsBytes = MemoryLayout<FLIPFields>.size
    private let base: UnsafeMutableRawPointer
    let engineCount: Int

    // Slot layout.
    private static let fieldsAt = 0          // fieldsBytes (< 96)
    private static let headerAt = 96         // 64 bytes, right-aligned
    private static let validAt = 160         // UInt8
    private static let headerLengthAt = 168  // Int
    private static let lengthOffsetAt = 176  // Int, -1 without Length
    private static let checksumOffsetAt = 184 // Int, -1 without Checksum
    private static let headerSumAt = 192     // UInt64
    private static let shapeAt = 208         // FLIPShape (receive), < 24 bytes
    private static let prefixAt = 232        // UInt64
    private static let prefixMaskAt = 240    // UInt64
    private static let configurationAt = 248 // UInt64, the configuration's serial
    private static let memoAt = 256          // memoEntries × (UInt64, UInt64)

    init(engineCount: Int) {
        precondition(Self.fieldsBytes <= Self.headerAt, "FLIPFields outgrew its cache slot")
        precondition(Self.shapeAt + MemoryLayout<FLIPShape>.size <= Self.prefixAt, "FLIPShape outgrew its cache slot")
        self.engineCount = engineCount
        base = UnsafeMutableRawPointer.allocate(byteCount: engineCount * Self.slotBytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: engineCount * Self.slotBytes)
        for e in 0..<engineCount {
            (base + e * Self.slotBytes + Self.shapeAt).initializeMemory(as: FLIPShape.self, repeating: .none, count: 1)
            forgetPrefix(e)
        }
    }

    /// Called once per burst with the configuration in force: a new one
    /// (other addresses, another arp block below) clears what was judged
    /// under the old one.
    @inline(__always)
    func adopt(_ configuration: FLIPConfiguration, engine: Int) {
        let slot = base + engine &* Self.slotBytes
        let serial = configuration.serial
        if _fastPath(slot.load(fromByteOffset: Self.configurationAt, as: UInt64.self) == serial) { return }
        slot.storeBytes(of: serial, toByteOffset: Self.configurationAt, as: UInt64.self)
        forgetPrefix(engine)
        (slot + Self.memoAt).initializeMemory(as: UInt8.self, repeating: 0, count: Self.memoEntries * 16)
    }

    /// Whether a body whose first 8 bytes (little-endian) are `first` is
    /// one more of the stream last delivered (see the invariants).
    @inline(__always)
    func continuesDelivery(_ first: UInt64, engine: Int) -> Bool {
        let prefix = deliveryPrefix(engine)
        return first & prefix.mask == prefix.value
    }

    /// The prefix of the stream last delivered and its mask (0 for none:
    /// then no body continues it).
    @inline(__always)
    func deliveryPrefix(_ engine: Int) -> (value: UInt64, mask: UInt64) {
        let slot = base + engine &* Self.slotBytes
        return (slot.load(fromByteOffset: Self.prefixAt, as: UInt64.self),
                slot.load(fromByteOffset: Self.prefixMaskAt, as: UInt64.self))
    }

    /// Remembers the prefix of a body just delivered with the current shape.
    @inline(__always)
    func rememberDelivery(_ first: UInt64, prefixLength: Int, engine: Int) {
        let slot = base + engine &* Self.slotBytes
        let mask: UInt64 = prefixLength >= 8 ? .max : (1 << (8 &* UInt64(prefixLength))) &- 1
        slot.storeBytes(of: first & mask, toByteOffset: Self.prefixAt, as: UInt64.self)
        slot.storeBytes(of: mask, toByteOffset: Self.prefixMaskAt, as: UInt64.self)
    }

    /// Clears the prefix (the shape may be about to change).
    @inline(__always)
    func forgetPrefix(_ engine: Int) {
        let slot = base + engine &* Self.slotBytes
        slot.storeBytes(of: UInt64(1), toByteOffset: Self.prefixAt, as: UInt64.self)
        slot.storeBytes(of: UInt64(0), toByteOffset: Self.prefixMaskAt, as: UInt64.self)
    }

    /// The memo entry for a 4-byte source.
    @inline(__always)
    func memo(_ source: UInt32, engine: Int) -> UnsafeMutablePointer<UInt64> {
        let i = Int(truncatingIfNeeded: (source &* 0x9E37_79B1) >> 26) & (Self.memoEntries &- 1)
        return (base + (engine &* Self.slotBytes &+ Self.memoAt &+ i &* 16)).assumingMemoryBound(to: UInt64.self)
    }

    /// The shape of the last header the engine parsed (see ``FLIPShape``).
    @inline(__always)
    func shape(_ engine: Int) -> UnsafeMutablePointer<FLIPShape> {
        (base + engine &* Self.slotBytes + Self.shapeAt).assumingMemoryBound(to: FLIPShape.self)
    }

    func deallocate() { base.deallocate() }

    /// Writes the header for `fields` in front of the `payloadLength`
    /// bytes at `payload` (room already made, at least 64 bytes of the
    /// buffer in front of the payload) if the engine's last header was
    /// built from the same fields. Returns the header length, or 0 on a miss.
    @inline(__always)
    func write(_ fields: UnsafePointer<FLIPFields>, payload: UnsafeMutableRawPointer, payloadLength: Int, engine: Int) -> Int {
        let slot = base + engine &* Self.slotBytes
        guard slot.load(fromByteOffset: Self.validAt, as: UInt8.self) == 1,
              Self.same(UnsafeRawPointer(fields), UnsafeRawPointer(slot + Self.fieldsAt)) else { return 0 }
        let headerLength = slot.load(fromByteOffset: Self.headerLengthAt, as: Int.self)
        // 64 bytes ending where the payload starts: the header, and bytes
        // of the headroom that the link header overwrites.
        (payload - 64).copyMemory(from: slot + Self.headerAt, byteCount: 64)
        let start = payload - headerLength
        let total = headerLength &+ payloadLength
        var sum = slot.load(fromByteOffset: Self.headerSumAt, as: UInt64.self)
        let lengthOffset = slot.load(fromByteOffset: Self.lengthOffsetAt, as: Int.self)
        if lengthOffset >= 0 {
            start.storeBytes(of: UInt16(truncatingIfNeeded: total).bigEndian, toByteOffset: lengthOffset, as: UInt16.self)
            let l = UInt64(total)
            sum &+= lengthOffset & 1 == 0 ? l : l << 8
        }
        let checksumOffset = slot.load(fromByteOffset: Self.checksumOffsetAt, as: Int.self)
        if checksumOffset >= 0 {
            var p = UInt64(FLIPChecksum.sum(payload, count: payloadLength))
            if headerLength & 1 == 1 { p = (p << 8 | p >> 8) & 0xFFFF }
            sum &+= p
            sum = (sum & 0xFFFF_FFFF) &+ (sum >> 32)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            sum = (sum & 0xFFFF) &+ (sum >> 16)
            start.storeBytes(of: (~UInt16(truncatingIfNeeded: sum)).bigEndian, toByteOffset: checksumOffset, as: UInt16.self)
        }
        return headerLength
    }

    /// Remembers the header just built at `header` for `fields`.
    func remember(_ fields: UnsafePointer<FLIPFields>, header: UnsafeRawPointer, headerLength: Int, engine: Int) {
        guard headerLength <= 64 else { return }
        let slot = base + engine &* Self.slotBytes
        let lengthOffset = fields.pointee.hasLength || fields.pointee.hasChecksum
            ? headerLength - (fields.pointee.hasChecksum ? 4 : 2) - (fields.pointee.fragmentOffset != nil ? 2 : 0) : -1
        let checksumOffset = fields.pointee.hasChecksum ? lengthOffset + 2 : -1
        // The header with Length and Checksum zeroed, left-aligned for its sum.
        var copy = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let sum = withUnsafeMutableBytes(of: &copy) { buffer -> UInt16 in
            let b = buffer.baseAddress!
            b.copyMemory(from: header, byteCount: headerLength)
            if lengthOffset >= 0 { b.storeBytes(of: UInt16(0), toByteOffset: lengthOffset, as: UInt16.self) }
            if checksumOffset >= 0 { b.storeBytes(of: UInt16(0), toByteOffset: checksumOffset, as: UInt16.self) }
            (slot + Self.headerAt + 64 - headerLength).copyMemory(from: b, byteCount: headerLength)
            return FLIPChecksum.sum(b, count: headerLength)
        }
        (slot + Self.fieldsAt).copyMemory(from: UnsafeRawPointer(fields), byteCount: Self.fieldsBytes)
        slot.storeBytes(of: headerLength, toByteOffset: Self.headerLengthAt, as: Int.self)
        slot.storeBytes(of: lengthOffset, toByteOffset: Self.lengthOffsetAt, as: Int.self)
        slot.storeBytes(of: checksumOffset, toByteOffset: Self.checksumOffsetAt, as: Int.self)
        slot.storeBytes(of: UInt64(sum), toByteOffset: Self.headerSumAt, as: UInt64.self)
        slot.storeBytes(of: UInt8(1), toByteOffset: Self.validAt, as: UInt8.self)
    }

    /// Raw equality of two FLIPFields.
    @inline(__always)
    private static func same(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Bool {
        var diff: UInt64 = 0
        var i = 0
        while i &+ 8 <= fieldsBytes {
            diff |= a.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i &+= 8
        }
        while i < fieldsBytes {
            diff |= UInt64(a.load(fromByteOffset: i, as: UInt8.self) ^ b.load(fromByteOffset: i, as: UInt8.self))
            i &+= 1
        }
        return diff == 0
    }
}
