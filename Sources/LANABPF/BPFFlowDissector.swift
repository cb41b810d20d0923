/// The part of the Linux flow dissector (`__skb_flow_dissect` with the
/// basic keys) behind `#poff` and LANA's `#rxhash`: follow the headers from
/// the network header to the transport header.
///
/// Covered as the kernel does: in-frame VLAN tags (802.1Q, 802.1ad),
/// IPv4 (header length, fragments), IPv6 with hop-by-hop, routing,
/// destination-options and fragment headers, IP-in-IP, IPv6-in-IP and
/// MPLS-in-IP, GRE (versions 0 and 1/PPTP, with checksum, key, sequence and
/// acknowledgement fields, transparent Ethernet bridging), PPPoE sessions
/// (uncompressed PPP protocol field) carrying IP or MPLS, HSR and PRP tags,
/// batman-adv unicast, one MPLS label, and ARP, RARP, TIPC, FCoE, PTP and
/// CFM (which end the walk at or after their header). Other EtherTypes
/// fail, which makes `#poff` 0. At most 15 headers are followed, like the
/// kernel.
///
/// All reads are bounds-checked: this runs only for programs that use
/// these extensions.
struct BPFFlowDissector {
    struct Flow {
        /// Transport header offset from the start of the frame.
        var transportOffset = 0
        var networkProtocol: UInt16 = 0
        var ipProtocol: UInt8 = 0
        var isFragment = false
        var isFirstFragment = false
        /// Ranges of the source and destination addresses in the frame.
        var sourceAddress: Range<Int> = 0..<0
        var destinationAddress: Range<Int> = 0..<0
    }

    let bytes: UnsafeRawBufferPointer

    func u8(_ at: Int) -> UInt8? { at >= 0 && at < bytes.count ? bytes[at] : nil }
    func u16(_ at: Int) -> UInt16? {
        at >= 0 && at + 2 <= bytes.count ? UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) : nil
    }
    func has(_ at: Int, _ count: Int) -> Bool { at >= 0 && at + count <= bytes.count }

    /// Dissects from `protocol` at `networkOffset`; `nil` where the kernel
    /// reports failure.
    func dissect(protocol start: UInt16, networkOffset: Int = 14) -> Flow? {
        var flow = Flow()
        var proto = start
        var nhoff = networkOffset
        var ipProto: UInt8 = 0
        var headers = 0
        var good = true

        func allowed() -> Bool { headers += 1; return headers <= 15 }

        protoLoop: while true {
            var again = false
            switch proto {
            case 0x0800:
                guard has(nhoff, 20), let vihl = u8(nhoff), vihl & 0x0F >= 5 else { good = false; break protoLoop }
                flow.sourceAddress = (nhoff + 12)..<(nhoff + 16)
                flow.destinationAddress = (nhoff + 16)..<(nhoff + 20)
                ipProto = bytes[nhoff + 9]
                let frag = u16(nhoff + 6)!
                nhoff += Int(vihl & 0x0F) * 4
                if frag & 0x3FFF != 0 {
                    flow.isFragment = true
                    if frag & 0x1FFF != 0 { break protoLoop }
                    flow.isFirstFragment = true
                    break protoLoop
                }
            case 0x86DD:
                guard has(nhoff, 40) else { good = false; break protoLoop }
                flow.sourceAddress = (nhoff + 8)..<(nhoff + 24)
                flow.destinationAddress = (nhoff + 24)..<(nhoff + 40)
                ipProto = bytes[nhoff + 6]
                nhoff += 40
            case 0x8100, 0x88A8:
                guard let inner = u16(nhoff + 2) else { good = false; break protoLoop }
                proto = inner
                nhoff += 4
                again = true
            case 0x8864:
                // PPPoE session: version/type 0x11, code 0, then a two-byte
                // PPP protocol (Linux 6.x no longer accepts the compressed
                // one-byte form: 0x21 0x45 is not a valid protocol).
                guard has(nhoff, 8), bytes[nhoff] == 0x11, bytes[nhoff + 1] == 0 else { good = false; break protoLoop }
                let ppp = u16(nhoff + 6)!
                nhoff += 8
                switch ppp {
                case 0x0021: proto = 0x0800
                case 0x0057: proto = 0x86DD
                case 0x0281, 0x0283: proto = 0x8847
                default:
                    // Another valid PPP protocol ends the walk here.
                    if ppp & 0x0101 != 0x0001 { good = false }
                    break protoLoop
                }
                again = true
            case 0x892F, 0x88FB:
                // HSR or PRP tag: path and size, sequence number, then the EtherType.
                guard let inner = u16(nhoff + 4) else { good = false; break protoLoop }
                proto = inner
                nhoff += 6
                again = true
            case 0x4305:
                // batman-adv: a unicast packet (type 0x40, version 15) then
                // the inner Ethernet header.
                guard has(nhoff, 24), bytes[nhoff] == 0x40, bytes[nhoff + 1] == 15 else { good = false; break protoLoop }
                proto = u16(nhoff + 22)!
                nhoff += 24
                again = true
            case 0x8847, 0x8848:
                // One label; the kernel looks no further without MPLS keys.
                nhoff += 4
                break protoLoop
            case 0x88F7:
                // PTP: the common header is 34 bytes.
                guard has(nhoff, 34) else { good = false; break protoLoop }
                nhoff += 34
                break protoLoop
            case 0x88CA:
                // TIPC: a basic header must be there.
                guard has(nhoff, 16) else { good = false; break protoLoop }
                break protoLoop
            case 0x0806, 0x8035, 0x8902:
                break protoLoop
            case 0x8906:
                guard bytes.count - nhoff >= 38 else { good = false; break protoLoop }
                nhoff += 38
                break protoLoop
            default:
                good = false
                break protoLoop
            }
            if again {
                if allowed() { continue protoLoop }
                break protoLoop
            }
            // Transport protocol: extension headers and tunnels.
            ipLoop: while true {
                switch ipProto {
                case 0, 43, 60:  // hop-by-hop, routing, destination options
                    guard proto == 0x86DD else { break ipLoop }
                    guard let next = u8(nhoff), let len = u8(nhoff + 1) else { good = false; break protoLoop }
                    ipProto = next
                    nhoff += (Int(len) + 1) << 3
                    if allowed() { continue ipLoop }
                    break protoLoop
                case 44:  // fragment
                    guard proto == 0x86DD else { break ipLoop }
                    guard has(nhoff, 8) else { good = false; break protoLoop }
                    flow.isFragment = true
                    ipProto = bytes[nhoff]
                    let off = u16(nhoff + 2)!
                    nhoff += 8
                    if off & 0xFFF8 == 0 { flow.isFirstFragment = true }
                    break protoLoop
                case 47:
                    switch gre(&nhoff, &proto) {
                    case .again: if allowed() { continue protoLoop }
                    case .bad: good = false
                    case .stop: break
                    }
                    break protoLoop
                case 137:  // MPLS in IP
                    proto = 0x8847
                    if allowed() { continue protoLoop }
                    break protoLoop
                case 4:  // IP in IP
                    proto = 0x0800
                    if allowed() { continue protoLoop }
                    break protoLoop
                case 41:  // IPv6 in IP
                    proto = 0x86DD
                    if allowed() { continue protoLoop }
                    break protoLoop
                default:
                    break ipLoop
                }
            }
            break protoLoop
        }
        guard good else { return nil }
        flow.transportOffset = min(nhoff, bytes.count, Int(UInt16.max))
        flow.networkProtocol = proto
        flow.ipProtocol = ipProto
        return flow
    }

    enum Step { case again, stop, bad }

    /// The kernel's `__skb_flow_dissect_gre`: at `nhoff` a GRE header;
    /// on `.again`, `nhoff` and `proto` describe the inner packet.
    func gre(_ nhoff: inout Int, _ proto: inout UInt16) -> Step {
        guard let flags = u16(nhoff), let carried = u16(nhoff + 2) else { return .bad }
        let version = flags & 0x0007
        // Routing present, or a version other than 0 and 1: stop at GRE.
        if flags & 0x4000 != 0 || version > 1 { return .stop }
        // Version 1 must be PPTP: PPP with a key.
        if version == 1 && !(carried == 0x880B && flags & 0x2000 != 0) { return .stop }
        var next = carried
        var offset = 4
        if flags & 0x8000 != 0 { offset += 4 }  // checksum and reserved
        if flags & 0x2000 != 0 {
            guard has(nhoff + offset, 4) else { return .bad }
            offset += 4
        }
        if flags & 0x1000 != 0 { offset += 4 }  // sequence number
        if version == 0 {
            if next == 0x6558 {
                // Transparent Ethernet bridging: an inner Ethernet header.
                guard let type = u16(nhoff + offset + 12) else { return .bad }
                next = type
                offset += 14
            }
        } else {
            if flags & 0x0080 != 0 { offset += 4 }  // acknowledgement number
            guard let ppp = u16(nhoff + offset + 2) else { return .bad }
            if ppp == 0x0021 { next = 0x0800 } else if ppp == 0x0057 { next = 0x86DD }
            offset += 4
        }
        nhoff += offset
        proto = next
        return .again
    }

    /// `#poff`: the kernel's `skb_get_poff`.
    func payloadOffset(protocol: UInt16, networkOffset: Int = 14) -> UInt32 {
        guard let flow = dissect(protocol: `protocol`, networkOffset: networkOffset) else { return 0 }
        var poff = flow.transportOffset
        if flow.isFragment && !flow.isFirstFragment { return UInt32(poff) }
        switch flow.ipProtocol {
        case 6:
            guard let doff = u8(poff + 12) else { return UInt32(poff) }
            poff += max(20, Int(doff & 0xF0) >> 2)
        case 17, 136: poff += 8   // UDP, UDP-Lite
        case 1, 58, 2: poff += 8  // ICMP, ICMPv6, IGMP
        case 33: poff += 12       // DCCP
        case 132: poff += 12      // SCTP
        default: break
        }
        return UInt32(truncatingIfNeeded: poff)
    }

    /// LANA's `#rxhash`: a hash of the flow that is the same in both
    /// directions (addresses and ports sorted, as the kernel's
    /// `__flow_hash_consistentify` does) and never 0.
    func flowHash(protocol: UInt16) -> UInt32 {
        var h: UInt32 = 0x6A09_E667
        func mix(_ v: UInt32) {
            var k = v &* 0xCC9E_2D51
            k = (k << 15) | (k >> 17)
            h ^= k &* 0x1B87_3593
            h = ((h << 13) | (h >> 19)) &* 5 &+ 0xE654_6B64
        }
        guard let flow = dissect(protocol: `protocol`) else {
            mix(UInt32(`protocol`))
            return finish(h)
        }
        mix(UInt32(flow.networkProtocol) << 8 | UInt32(flow.ipProtocol))
        let a = Array(UnsafeRawBufferPointer(rebasing: bytes[flow.sourceAddress]))
        let b = Array(UnsafeRawBufferPointer(rebasing: bytes[flow.destinationAddress]))
        var ports: (UInt16, UInt16) = (0, 0)
        if [6, 17, 132, 33, 136].contains(flow.ipProtocol) && !(flow.isFragment && !flow.isFirstFragment),
           let s = u16(flow.transportOffset), let d = u16(flow.transportOffset + 2) {
            ports = (s, d)
        }
        let swap = a.lexicographicallyPrecedes(b) == false && a != b || (a == b && ports.0 > ports.1)
        let (first, second) = swap ? (b, a) : (a, b)
        for chunk in [first, second] {
            var i = 0
            while i < chunk.count {
                var w: UInt32 = 0
                for j in i..<min(i + 4, chunk.count) { w = w << 8 | UInt32(chunk[j]) }
                mix(w)
                i += 4
            }
        }
        mix(swap ? UInt32(ports.1) << 16 | UInt32(ports.0) : UInt32(ports.0) << 16 | UInt32(ports.1))
        return finish(h)
    }

    private func finish(_ value: UInt32) -> UInt32 {
        var h = value
        h ^= h >> 16; h = h &* 0x85EB_CA6B
        h ^= h >> 13; h = h &* 0xC2B2_AE35
        h ^= h >> 16
        return h == 0 ? 1 : h
    }
}
