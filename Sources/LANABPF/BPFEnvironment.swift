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
    /// TCI of the VLAN tag the kernel took out of the frame, `skb->vlan_tci`
    /// (`#vlan_tci`). The kernel's filters see the frame without it; LANA's
    /// see it as on the wire, the tag still in the bytes (see
    /// ``receivedVLANTag(_:)``).
    public var vlanTCI: UInt16 = 0
    /// Whether such a tag exists (`#vlan_pr`, `#vlan_avail`).
    public var vlanPresent: Bool = false
    /// Its TPID, 0x8100 or 0x88a8, in host order (`#vlan_tpid`).
    public var vlanTPID: UInt16 = 0
    /// Where the network header starts in the bytes the program sees, the
    /// point `#poff` parses from with ``protocol``: 14 after an Ethernet
    /// header, 18 after a tag the kernel would have taken out and that
    /// stays in the bytes (``receivedVLANTag(_:)``).
    public var networkOffset: UInt16 = 14
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
    /// shorter than a header. With `typeOffset` 16, the same rule for the
    /// EtherType behind a VLAN tag (`vlan_set_encap_proto`).
    public static func ethernetProtocol(_ frame: UnsafeRawBufferPointer, typeOffset: Int = 12) -> UInt16 {
        guard frame.count >= typeOffset + 2 else { return 0 }
        let type = UInt16(frame[typeOffset]) << 8 | UInt16(frame[typeOffset + 1])
        if type >= 0x600 { return type }
        if frame.count >= typeOffset + 4 && frame[typeOffset + 2] == 0xFF && frame[typeOffset + 3] == 0xFF { return 0x0001 }
        return 0x0004
    }

    /// The VLAN tag the kernel takes out of a frame it receives before any
    /// socket or filter sees it (`skb_vlan_untag`, or a NIC's VLAN offload):
    /// the outer one, when the frame's EtherType is 802.1Q (0x8100) or
    /// 802.1ad (0x88a8) — and only that one, a QinQ frame keeps its inner
    /// tag. `nil` for other frames and for ones too short to hold a tag.
    ///
    /// For a frame as it was on the wire, with its tag restored (as LANA's
    /// interfaces deliver them): the `#vlan_*` values, and the kernel's
    /// `skb->protocol` is then ``ethernetProtocol(_:typeOffset:)`` at 16
    /// (`vlan_set_encap_proto`), its network header at 18.
    public static func receivedVLANTag(_ frame: UnsafeRawBufferPointer) -> (tpid: UInt16, tci: UInt16)? {
        guard frame.count >= 18 else { return nil }
        let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
        guard type == 0x8100 || type == 0x88A8 else { return nil }
        return (type, UInt16(frame[14]) << 8 | UInt16(frame[15]))
    }

    /// Fills ``protocol``, the VLAN fields and ``networkOffset`` as the
    /// kernel had them for `frame`, a frame received from an Ethernet
    /// interface as it was on the wire (the tag the kernel took out put
    /// back, see ``receivedVLANTag(_:)``).
    public mutating func setReceivedEthernet(_ frame: UnsafeRawBufferPointer) {
        if let tag = Self.receivedVLANTag(frame) {
            vlanPresent = true
            vlanTPID = tag.tpid
            vlanTCI = tag.tci
            self.protocol = Self.ethernetProtocol(frame, typeOffset: 16)
            networkOffset = 18
        } else {
            vlanPresent = false
            vlanTPID = 0
            vlanTCI = 0
            self.protocol = Self.ethernetProtocol(frame)
            networkOffset = 14
        }
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
