/// `tcpdump` filter expressions for the libpcap oracle and differential
/// tests: protocols, hosts, nets, ports and ranges, TCP flags, VLAN, byte
/// arithmetic, length tests and combinations.
enum BPFExpressions {
    static let all: [String] = [
        "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6",
        "tcp port 80", "udp port 53", "port 22", "tcp dst port 443", "udp src port 5353",
        "portrange 1000-2000", "tcp portrange 8000-8100",
        "host 10.0.0.1", "src host 10.0.0.2", "dst host 192.168.1.7", "net 10.0.0.0/8", "dst net 192.168.0.0/16",
        "src net 10.0.0.0 mask 255.255.255.0",
        "ether host 02:00:00:00:00:0b", "ether src 02:00:00:00:00:0b", "ether dst ff:ff:ff:ff:ff:ff",
        "ether broadcast", "ether multicast", "dst host 255.255.255.255", "ip multicast",
        "ether proto 0x88b5", "ip proto 47",
        "vlan", "vlan 100", "vlan and ip", "vlan and udp port 53",
        "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
        "tcp[13] & 1 != 0", "ip[8] < 2", "ip[6:2] & 0x1fff != 0", "ip[2:2] > 576",
        "icmp[icmptype] == icmp-echo", "greater 100", "less 64", "len >= 60 and len <= 128",
        "tcp and not port 22", "ip and (tcp or udp) and not host 10.0.0.1",
        "(tcp port 80 or tcp port 443) and host 10.0.0.2", "not arp and not ip6",
        "ip6 and tcp port 443", "ip6 host fd00::1", "ip6 net fd00::/8", "ip6 and udp port 547",
        "udp and ip[6:2] & 0x3fff = 0", "llc", "ip[0] & 0xf > 5",
        "ether[12:2] = 0x0800 and ether[23] = 17", "ip proto \\tcp", "ip and len - 14 > 50",
        "tcp[(tcp[12] >> 4) * 4] = 0x47", "ip[9] * 2 + 1 = 35", "ip[8] % 7 = 1", "ip[8] ^ 0x40 = 0",
    ]
}
