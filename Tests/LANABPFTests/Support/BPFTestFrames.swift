/// Real-looking Ethernet frames for running filters: ARP, IPv4 and IPv6
/// with TCP, UDP and ICMP, IPv4 options and fragments, 802.1Q and QinQ
/// tags, 802.3/LLC, and truncated and random ones.
enum BPFTestFrames {
    static let localMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0A]
    static let peerMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0B]
    static let otherMAC: [UInt8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]
    static let broadcastMAC: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    static let multicastMAC: [UInt8] = [0x01, 0x00, 0x5E, 0x00, 0x00, 0x01]

    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func checksum(_ bytes: [UInt8]) -> [UInt8] {
        var sum: UInt32 = 0
        for i in stride(from: 0, to: bytes.count - 1, by: 2) { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]) }
        if bytes.count % 2 == 1 { sum += UInt32(bytes.last!) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return be16(Int(~UInt16(sum)))
    }

    static func ethernet(_ destination: [UInt8], _ type: Int, _ payload: [UInt8], tags: [(tpid: Int, tci: Int)] = []) -> [UInt8] {
        var frame = destination + peerMAC
        for tag in tags { frame += be16(tag.tpid) + be16(tag.tci) }
        return frame + be16(type) + payload
    }

    static func tcp(sourcePort: Int, destinationPort: Int, flags: UInt8, payload: [UInt8]) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be32(0x1234_5678) + be32(0x9ABC_DEF0)
            + [0x50, flags] + be16(8192) + [0, 0, 0, 0] + payload
    }

    static func udp(sourcePort: Int, destinationPort: Int, payload: [UInt8]) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be16(8 + payload.count) + [0, 0] + payload
    }

    static func ipv4(protocol proto: UInt8, source: [UInt8], destination: [UInt8], payload: [UInt8],
                     options: [UInt8] = [], fragment: Int = 0x4000, ttl: UInt8 = 64) -> [UInt8] {
        let headerLength = 20 + options.count
        var header: [UInt8] = [UInt8(0x40 | headerLength / 4), 0] + be16(headerLength + payload.count)
            + [0x12, 0x34] + be16(fragment) + [ttl, proto, 0, 0] + source + destination + options
        let sum = checksum(header)
        header[10] = sum[0]; header[11] = sum[1]
        return header + payload
    }

    static func ipv6(nextHeader: UInt8, payload: [UInt8], extensionHeaders: [UInt8] = []) -> [UInt8] {
        let source: [UInt8] = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let destination: [UInt8] = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
        return [0x60, 0, 0, 0] + be16(extensionHeaders.count + payload.count) + [nextHeader, 64]
            + source + destination + extensionHeaders + payload
    }

    static func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: seed &* 31 &+ $0 &* 7) }
    }

    /// A fixed set covering the protocols tcpdump expressions ask about.
    static func catalogue(destination: [UInt8] = localMAC) -> [[UInt8]] {
        let a: [UInt8] = [10, 0, 0, 1], b: [UInt8] = [10, 0, 0, 2], c: [UInt8] = [192, 168, 1, 7]
        var frames: [[UInt8]] = []
        let payload = pattern(32, seed: 1)
        // IPv4 TCP/UDP/ICMP on interesting ports.
        for (sp, dp) in [(12345, 80), (80, 40000), (22, 5555), (443, 1024), (53, 53), (5000, 8080)] {
            frames.append(ethernet(destination, 0x0800, ipv4(protocol: 6, source: a, destination: b,
                                                             payload: tcp(sourcePort: sp, destinationPort: dp, flags: 0x02, payload: payload))))
            frames.append(ethernet(destination, 0x0800, ipv4(protocol: 17, source: c, destination: a,
                                                             payload: udp(sourcePort: sp, destinationPort: dp, payload: payload))))
        }
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 6, source: a, destination: b,
                                                         payload: tcp(sourcePort: 80, destinationPort: 999, flags: 0x12, payload: []))))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 6, source: b, destination: a,
                                                         payload: tcp(sourcePort: 999, destinationPort: 80, flags: 0x11, payload: []))))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 1, source: a, destination: c,
                                                         payload: [8, 0, 0, 0, 0, 1, 0, 1] + payload)))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 1, source: a, destination: c,
                                                         payload: [0, 0, 0, 0, 0, 1, 0, 1] + payload, ttl: 1)))
        // IPv4 with options (IHL 6), a later fragment, a first fragment.
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 17, source: a, destination: b,
                                                         payload: udp(sourcePort: 7, destinationPort: 53, payload: payload),
                                                         options: [0x94, 0x04, 0, 0])))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 6, source: a, destination: b, payload: payload, fragment: 0x0010)))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 17, source: a, destination: b,
                                                         payload: udp(sourcePort: 7, destinationPort: 53, payload: payload), fragment: 0x2000)))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 47, source: a, destination: b, payload: payload)))
        // IPv6 TCP, UDP, ICMPv6, with a hop-by-hop header.
        frames.append(ethernet(destination, 0x86DD, ipv6(nextHeader: 6, payload: tcp(sourcePort: 33000, destinationPort: 443, flags: 0x02, payload: payload))))
        frames.append(ethernet(destination, 0x86DD, ipv6(nextHeader: 17, payload: udp(sourcePort: 546, destinationPort: 547, payload: payload))))
        frames.append(ethernet(destination, 0x86DD, ipv6(nextHeader: 58, payload: [128, 0, 0, 0, 0, 1, 0, 1] + payload)))
        frames.append(ethernet(destination, 0x86DD, ipv6(nextHeader: 0, payload: udp(sourcePort: 1, destinationPort: 53, payload: payload),
                                                         extensionHeaders: [17, 0, 1, 4, 0, 0, 0, 0])))
        // ARP request and reply.
        let arp: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + peerMAC + a + [0, 0, 0, 0, 0, 0] + b
        frames.append(ethernet(broadcastMAC, 0x0806, arp + pattern(18, seed: 2)))
        frames.append(ethernet(destination, 0x0806, [0, 1, 8, 0, 6, 4, 0, 2] + peerMAC + b + localMAC + a))
        // VLAN: 802.1Q over IPv4/UDP and ARP, QinQ.
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 17, source: a, destination: b,
                                                         payload: udp(sourcePort: 9, destinationPort: 53, payload: payload)),
                               tags: [(0x8100, 0x2064)]))
        frames.append(ethernet(destination, 0x0806, arp, tags: [(0x8100, 0x0007)]))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 6, source: a, destination: b,
                                                         payload: tcp(sourcePort: 1, destinationPort: 80, flags: 2, payload: payload)),
                               tags: [(0x88A8, 0x0100), (0x8100, 0x0200)]))
        // 802.3 with LLC, and raw 802.3 (0xFFFF).
        frames.append(ethernet(destination, 46, [0x42, 0x42, 0x03] + pattern(43, seed: 3)))
        frames.append(ethernet(destination, 46, [0xFF, 0xFF] + pattern(44, seed: 4)))
        // Multicast and broadcast IPv4, another host's frame.
        frames.append(ethernet(multicastMAC, 0x0800, ipv4(protocol: 17, source: a, destination: [224, 0, 0, 1],
                                                          payload: udp(sourcePort: 5353, destinationPort: 5353, payload: payload))))
        frames.append(ethernet(broadcastMAC, 0x0800, ipv4(protocol: 17, source: a, destination: [255, 255, 255, 255],
                                                          payload: udp(sourcePort: 68, destinationPort: 67, payload: payload))))
        frames.append(ethernet(otherMAC, 0x0800, ipv4(protocol: 6, source: c, destination: b,
                                                      payload: tcp(sourcePort: 80, destinationPort: 80, flags: 0x10, payload: payload))))
        frames += dissectorCases(destination: destination)
        // Unknown EtherType, and a full-size frame.
        frames.append(ethernet(destination, 0x88B5, pattern(50, seed: 5)))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 17, source: a, destination: b,
                                                         payload: udp(sourcePort: 4000, destinationPort: 4001, payload: pattern(1472, seed: 6)))))
        return frames
    }

    /// Headers the flow dissector behind `#poff` walks: IPv6 extension
    /// headers and fragments, tunnels, PPPoE, MPLS, TCP options, the other
    /// transport protocols, and malformed ones.
    static func dissectorCases(destination: [UInt8]) -> [[UInt8]] {
        let a: [UInt8] = [10, 0, 0, 1], b: [UInt8] = [10, 0, 0, 2]
        let payload = pattern(24, seed: 9)
        let udp = udp(sourcePort: 1000, destinationPort: 2000, payload: payload)
        let tcpOptions = be16(1000) + be16(80) + be32(1) + be32(2) + [0x80, 0x10] + be16(100) + [0, 0, 0, 0]
            + [1, 1, 8, 10] + be32(7) + be32(8) + payload
        var frames: [[UInt8]] = []
        func ip4(_ proto: UInt8, _ payload: [UInt8], fragment: Int = 0x4000) -> [UInt8] {
            ethernet(destination, 0x0800, ipv4(protocol: proto, source: a, destination: b, payload: payload, fragment: fragment))
        }
        func ip6(_ next: UInt8, _ payload: [UInt8], _ ext: [UInt8] = []) -> [UInt8] {
            ethernet(destination, 0x86DD, ipv6(nextHeader: next, payload: payload, extensionHeaders: ext))
        }
        frames.append(ip4(6, tcpOptions))
        frames.append(ip4(6, Array(tcpOptions.prefix(10))))  // TCP cut before the data offset
        frames.append(ip4(6, [0, 80, 0, 80, 0, 0, 0, 1, 0, 0, 0, 2, 0x20] + payload))  // data offset below 5
        for proto: UInt8 in [136, 2, 33, 132, 50, 103] { frames.append(ip4(proto, payload + payload)) }
        frames.append(ip4(17, udp, fragment: 0x2000))          // first fragment
        frames.append(ip4(17, udp, fragment: 0x2010))          // middle fragment
        frames.append(ip4(4, ipv4(protocol: 17, source: b, destination: a, payload: udp)))    // IP in IP
        frames.append(ip4(41, ipv6(nextHeader: 6, payload: tcpOptions)))                     // IPv6 in IP
        frames.append(ip4(4, Array(ipv4(protocol: 17, source: b, destination: a, payload: udp).prefix(12))))
        // GRE: version 0 carrying IPv4 and IPv6 (with and without a key), version 1 (PPTP).
        frames.append(ip4(47, [0, 0, 0x08, 0x00] + ipv4(protocol: 17, source: b, destination: a, payload: udp)))
        frames.append(ip4(47, [0x20, 0, 0x86, 0xDD, 0, 0, 0, 42] + ipv6(nextHeader: 17, payload: udp)))
        frames.append(ip4(47, [0x30, 0x81, 0x88, 0x0B] + be32(5) + be32(6) + payload))
        frames.append(ip4(47, [0, 0, 0x65, 0x58] + ethernet(otherMAC, 0x0800, ipv4(protocol: 6, source: a, destination: b, payload: tcpOptions))))
        // IPv6 extension headers.
        frames.append(ip6(43, udp, [17, 0, 0, 0, 0, 0, 0, 0]))                          // routing
        frames.append(ip6(60, tcpOptions, [6, 1] + Array(repeating: 0, count: 14)))     // destination options, 16 bytes
        frames.append(ip6(44, udp, [17, 0, 0, 0, 0, 0, 0, 1]))                          // first fragment
        frames.append(ip6(44, udp, [17, 0, 0x05, 0x00, 0, 0, 0, 1]))                    // later fragment
        frames.append(ip6(0, udp, [44, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 9]))  // hop-by-hop then fragment
        frames.append(ip6(4, ipv4(protocol: 6, source: a, destination: b, payload: tcpOptions)))
        frames.append(ip6(41, ipv6(nextHeader: 58, payload: [128, 0, 0, 0] + payload)))
        frames.append(ip6(0, [], []))                                                    // hop-by-hop missing
        frames.append(Array(ip6(6, tcpOptions).prefix(40)))                              // IPv6 header cut
        // PPPoE sessions, MPLS, TIPC, FCoE, RARP, IPv4 with a bad header length.
        let ip = ipv4(protocol: 17, source: a, destination: b, payload: udp)
        frames.append(ethernet(destination, 0x8864, [0x11, 0, 0, 1] + be16(ip.count + 2) + [0x00, 0x21] + ip))
        frames.append(ethernet(destination, 0x8864, [0x11, 0, 0, 1] + be16(42) + [0x00, 0x57] + ipv6(nextHeader: 17, payload: udp)))
        frames.append(ethernet(destination, 0x8864, [0x11, 0, 0, 1] + be16(10) + [0xC0, 0x21] + payload))
        frames.append(ethernet(destination, 0x8864, [0x11, 0, 0, 1] + be16(ip.count + 1) + [0x21] + ip))  // compressed PPP protocol
        frames.append(ethernet(destination, 0x8864, [0x11, 0, 0, 1] + be16(ip.count + 6) + [0x02, 0x81, 0, 0, 0x11, 64] + ip))
        frames.append(ethernet(destination, 0x8864, [0x12, 0, 0, 1] + be16(ip.count + 2) + [0x00, 0x21] + ip))  // bad version
        frames.append(ethernet(destination, 0x8864, [0x11, 0, 0, 1] + be16(4) + [0x80, 0x20] + payload))  // invalid PPP protocol
        frames.append(ip4(137, [0, 0, 0x11, 64] + ip))  // MPLS in IP
        frames.append(ip4(115, payload + payload))      // L2TPv3
        frames.append(ethernet(destination, 0x88F7, pattern(44, seed: 14)))  // PTP
        frames.append(ethernet(destination, 0x8902, pattern(44, seed: 15)))  // CFM
        frames.append(ethernet(destination, 0x4305, [0x40, 0x0F, 0x40, 0] + pattern(6, seed: 16) + ethernet(otherMAC, 0x0800, ip)))  // batman-adv
        frames.append(ethernet(destination, 0x892F, [0, 1, 0, 2] + be16(0x0800) + ip))  // HSR
        frames.append(ethernet(destination, 0x892F, [0, 1, 0, 2] + be16(0x892F) + [0, 1, 0, 3] + be16(0x86DD) + ipv6(nextHeader: 17, payload: udp)))
        frames.append(ethernet(destination, 0x88FB, [0, 1, 0, 2] + be16(0x0800) + ip))  // PRP
        frames.append(ethernet(destination, 0x4305, [0x40, 0x0E, 0x40, 0] + pattern(6, seed: 16) + ethernet(otherMAC, 0x0800, ip)))  // batman-adv, old version
        frames.append(ethernet(destination, 0x88F7, pattern(20, seed: 17)))  // PTP, short
        frames.append(ethernet(destination, 0x8847, [0, 0, 0x11, 64] + ip))
        frames.append(ethernet(destination, 0x88CA, pattern(40, seed: 11)))
        frames.append(ethernet(destination, 0x8906, pattern(60, seed: 12)))
        frames.append(ethernet(destination, 0x8035, pattern(28, seed: 13)))
        frames.append(ethernet(destination, 0x0800, [0x44] + Array(ip.dropFirst())))
        frames.append(ethernet(destination, 0x0800, [0x4F] + Array(ip.dropFirst())))
        frames.append(ethernet(destination, 0x0800, ipv4(protocol: 6, source: a, destination: b, payload: tcpOptions, options: [1, 1, 1, 0])))
        return frames
    }

    /// `catalogue()` plus truncated copies and random frames, from `count`
    /// bytes 0 up (for the user-space comparisons; the kernel cannot send
    /// frames shorter than an Ethernet header).
    static func mixed<G: RandomNumberGenerator>(using rng: inout G, minimumLength: Int = 0, random: Int = 16) -> [[UInt8]] {
        var frames = catalogue()
        for frame in catalogue() where Int.random(in: 0..<3, using: &rng) == 0 {
            let cut = Int.random(in: minimumLength...max(minimumLength, min(frame.count, 70)), using: &rng)
            frames.append(Array(frame.prefix(cut)))
        }
        for _ in 0..<random {
            let n = Int.random(in: minimumLength...200, using: &rng)
            var frame = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n >= 14 && Bool.random(using: &rng) {
                // Random but with a plausible EtherType and IP version.
                let t = [0x0800, 0x86DD, 0x0806, 0x8100].randomElement(using: &rng)!
                frame[12] = UInt8(t >> 8); frame[13] = UInt8(t & 0xFF)
                if n > 14 { frame[14] = t == 0x86DD ? 0x60 : 0x45 }
            }
            frames.append(frame)
        }
        return frames
    }
}
