/// What a program's Linux extensions (`#proto`, `#ifidx`, …) read about the
/// packet besides its bytes: the fields of the kernel's `sk_buff` and
/// `net_device` that the socket filter exposes.
///
/// The machine only reads the fields a program uses (see
/// ``BPFCompiledProgram/uses``), so a caller fills those and leaves the
/// rest. `#len`, `#poff` and `#nla`/`#nlan` need no field: they come from
/// the bytes (and `#poff` from ``protocol``). `#rand` advances
/// ``randomState``.
public struct BPFEnvironment: Sendable, Equatable {
    /// `skb->protocol` in host order: the EtherType for Ethernet II frames,
    /// `ETH_P_802_3` (1) or `ETH_P_802_2` (4) for 802.3 frames — see
    /// ``ethernetProtocol(_:)``. `#proto`; where `#poff` starts parsing.
    public var `protocol`: UInt16 = 0
    /// `skb->pkt_type`: ``PacketType`` (`#type`).
    public var packetType: UInt8 = PacketType.host
    /// `skb->dev->ifindex` (`#ifidx`).
    public var interfaceIndex: UInt32 = 0
    /// `skb->mark` (`#mark`).
    public var mark: UInt32 = 0
    /// `skb->queue_mapping` (`#queue`).
    public var queue: UInt16 = 0
    /// `skb->dev->type`, an `ARPHRD_*` value; 1 (`ARPHRD_ETHER`) by default (`#hatype`).
    public var hardwareType: UInt16 = 1
    /// `skb->hash` (`#rxhash`); 0 means "no hash".
    public var rxHash: UInt32 = 0
    /// CPU running the filter (`#cpu`).
    public var cpu: UInt32 = 0
    /// TCI of a VLAN tag held outside the frame's bytes (`#vlan_tci`).
    public var vlanTCI: UInt16 = 0
    /// Whether such a tag exists (`#vlan_pr`).
    public var vlanPresent: Bool = false
    /// Its TPID, 0x8100 or 0x88a8, in host order (`#vlan_tpid`).
    public var vlanTPID: UInt16 = 0
    /// State of the generator behind `#rand` (xorshift64*; never 0).
    public var randomState: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init() {}

    /// `PACKET_*` values of `skb->pkt_type` (`<linux/if_packet.h>`).
    public enum PacketType {
        public static let host: UInt8 = 0
        public static let broadcast: UInt8 = 1
        public static let multicast: UInt8 = 2
        public static let otherHost: UInt8 = 3
        public static let outgoing: UInt8 = 4
    }

    /// `skb->protocol` as the kernel's `eth_type_trans` sets it for an
    /// Ethernet frame: the EtherType if it is at least 0x600; otherwise
    /// (an 802.3 length field) `ETH_P_802_3` for raw IPX frames whose
    /// payload starts with 0xFFFF and `ETH_P_802_2` for LLC. 0 for frames
    /// shorter than a header.
    public static func ethernetProtocol(_ frame: UnsafeRawBufferPointer) -> UInt16 {
        guard frame.count >= 14 else { return 0 }
        let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
        if type >= 0x600 { return type }
        if frame.count >= 16 && frame[14] == 0xFF && frame[15] == 0xFF { return 0x0001 }
        return 0x0004
    }

    /// `skb->pkt_type` as far as the frame tells: outgoing for egress,
    /// broadcast or multicast by destination address, host otherwise (LANA
    /// does not know the interface's own address, so `PACKET_OTHERHOST` is
    /// never reported).
    public static func packetType(_ frame: UnsafeRawBufferPointer, outgoing: Bool) -> UInt8 {
        if outgoing { return PacketType.outgoing }
        guard frame.count >= 6 else { return PacketType.host }
        if frame[0] & 1 == 0 { return PacketType.host }
        for i in 0..<6 where frame[i] != 0xFF { return PacketType.multicast }
        return PacketType.broadcast
    }

    /// The next `#rand` value.
    @inlinable
    public mutating func nextRandom() -> UInt32 {
        var s = randomState
        s ^= s >> 12
        s ^= s << 25
        s ^= s >> 27
        randomState = s
        return UInt32(truncatingIfNeeded: (s &* 0x2545_F491_4F6C_DD1D) >> 32)
    }
}
