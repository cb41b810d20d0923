// The frames `lana-bench bpf` filters: a fixed mix of what a LAN carries
// (IPv4 TCP with and without payload, to and from port 80 and others, IPv4
// UDP (DNS and high ports), ARP, IPv6 TCP, a local-experimental EtherType),
// so that every measured filter both matches and fails, on different paths.
//
// Unsafe code: the frames live in one allocation owned by this object;
// `frames[i]` points at `lengths[i]` bytes inside it until `deinit`.

final class BenchPackets {
    let frames: UnsafeMutablePointer<UnsafeRawPointer>
    let lengths: UnsafeMutablePointer<Int>
    let count: Int
    private let storage: UnsafeMutableRawPointer

    init() {
        var list: [[UInt8]] = []
        for i in 0..<64 {
            switch i % 8 {
            case 0, 1: list.append(Self.ipv4TCP(i, sport: 40000 &+ i, dport: 80, payload: i % 2 == 0 ? 0 : 200))
            case 2: list.append(Self.ipv4TCP(i, sport: 80, dport: 40000 &+ i, payload: 1000))
            case 3: list.append(Self.ipv4TCP(i, sport: 40000 &+ i, dport: 443, payload: 64))
            case 4: list.append(Self.ipv4UDP(i, sport: 50000 &+ i, dport: i % 16 == 4 ? 53 : 8000 &+ i))
            case 5: list.append(Self.arp(i))
            case 6: list.append(Self.ipv6TCP(i, dport: 80))
            default: list.append(Self.ethernet(0x88B5) + [UInt8](repeating: UInt8(i), count: 46))
            }
        }
        count = list.count
        let total = list.reduce(0) { $0 + $1.count }
        storage = .allocate(byteCount: total, alignment: 64)
        frames = .allocate(capacity: count)
        lengths = .allocate(capacity: count)
        var at = 0
        for (i, f) in list.enumerated() {
            f.withUnsafeBytes { (storage + at).copyMemory(from: $0.baseAddress!, byteCount: f.count) }
            frames[i] = UnsafeRawPointer(storage + at)
            lengths[i] = f.count
            at += f.count
        }
    }

    deinit {
        storage.deallocate()
        frames.deallocate()
        lengths.deallocate()
    }

    static func ethernet(_ type: UInt16) -> [UInt8] {
        [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, UInt8(type >> 8), UInt8(type & 0xFF)]
    }

    static func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func ipv4(_ i: Int, protocol p: UInt8, payload: [UInt8]) -> [UInt8] {
        let source: [UInt8] = i % 3 == 0 ? [10, 1, 2, 3] : [192, 168, 1, UInt8(i)]
        let destination: [UInt8] = i % 5 == 0 ? [192, 168, 7, 7] : [10, 9, 8, UInt8(i)]
        return [0x45, 0] + be16(20 + payload.count) + be16(i) + [0x40, 0, 64, p, 0, 0] + source + destination + payload
    }

    static func tcp(sport: Int, dport: Int, payload: Int) -> [UInt8] {
        be16(sport) + be16(dport) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18] + be16(512) + [0, 0, 0, 0]
            + [UInt8](repeating: 0x61, count: payload)
    }

    static func ipv4TCP(_ i: Int, sport: Int, dport: Int, payload: Int) -> [UInt8] {
        ethernet(0x0800) + ipv4(i, protocol: 6, payload: tcp(sport: sport, dport: dport, payload: payload))
    }

    static func ipv4UDP(_ i: Int, sport: Int, dport: Int) -> [UInt8] {
        let body = [UInt8](repeating: 0x42, count: 40)
        return ethernet(0x0800) + ipv4(i, protocol: 17, payload: be16(sport) + be16(dport) + be16(8 + body.count) + [0, 0] + body)
    }

    static func ipv6TCP(_ i: Int, dport: Int) -> [UInt8] {
        let segment = tcp(sport: 40000 &+ i, dport: dport, payload: 32)
        let header: [UInt8] = [0x60, 0, 0, 0] + be16(segment.count) + [6, 64]
            + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
            + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [UInt8(i)]
        return ethernet(0x86DD) + header + segment
    }

    static func arp(_ i: Int) -> [UInt8] {
        ethernet(0x0806) + [0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x01, 10, 1, 2, 3]
            + [0, 0, 0, 0, 0, 0, 10, 1, 2, UInt8(i)] + [UInt8](repeating: 0, count: 18)
    }
}
