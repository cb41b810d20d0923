/// `#nla` and `#nlan`: the kernel's `__skb_get_nlattr` and
/// `__skb_get_nlattr_nest`, which read the packet from offset A as a run of
/// netlink attributes (host-order 16-bit length and type, 4-byte aligned)
/// and return the offset of the first one of type X, or 0.
///
/// Meant for netlink sockets; on an Ethernet frame they read whatever bytes
/// are there, exactly as the kernel would. Reads are bounds-checked.
enum BPFNetlinkAttributes {
    static func find(_ packet: UnsafeRawBufferPointer, at a: UInt32, type x: UInt32, nested: Bool) -> UInt32 {
        let length = packet.count
        guard length >= 4, Int(a) <= length - 4 else { return 0 }
        var start = Int(a)
        var remaining = length - start
        if nested {
            let outer = Int(header(packet, start).length)
            guard outer <= remaining else { return 0 }
            start += 4
            remaining = outer - 4
        }
        var offset = start
        while remaining >= 4 {
            let h = header(packet, offset)
            let len = Int(h.length)
            guard len >= 4, len <= remaining else { return 0 }
            if UInt32(h.type & 0x3FFF) == x { return UInt32(offset) }
            let aligned = (len + 3) & ~3
            remaining -= aligned
            offset += aligned
        }
        return 0
    }

    /// `struct nlattr` at `offset` (little-endian host order).
    private static func header(_ p: UnsafeRawBufferPointer, _ offset: Int) -> (length: UInt16, type: UInt16) {
        (UInt16(p[offset]) | UInt16(p[offset + 1]) << 8, UInt16(p[offset + 2]) | UInt16(p[offset + 3]) << 8)
    }
}
