// Unsafe code: raw sockets, setns and recvmsg control messages.
//
// Invariants
// - Every descriptor opened here is closed by its owner's deinit (or
//   right away on failure).
// - `inNamespace` switches only the calling thread's network namespace and
//   always switches back before returning; sockets opened meanwhile stay in
//   the namespace they were created in.
// - Buffers handed to the kernel are sized by the count passed with them.
import CLANASupport
import CPcap
import Foundation
import Glibc
import LANABPF
import LANATestSupport

/// The Linux kernel as an oracle: its socket-filter checker
/// (`SO_ATTACH_FILTER`) and its filter machine (an `AF_PACKET` socket on a
/// veth pair in namespaces the test creates).
enum BPFKernel {
    /// Whether the kernel accepts `program` as a socket filter, and errno
    /// when it does not.
    static func accepts(_ program: [BPFInstruction]) throws -> (Bool, Int32) {
        let fd = socket(AF_INET, CInt(SOCK_DGRAM.rawValue), 0)
        try require(fd >= 0, "socket(AF_INET, SOCK_DGRAM) failed: errno \(errno)")
        defer { close(fd) }
        return attach(program, to: fd)
    }

    static func attach(_ program: [BPFInstruction], to fd: CInt) -> (Bool, Int32) {
        let filters = program.map { sock_filter(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
        let status = filters.withUnsafeBufferPointer { buffer -> CInt in
            // An empty program still passes a valid pointer, so the kernel
            // judges the length, not a NULL filter.
            var one = sock_filter(code: 6, jt: 0, jf: 0, k: 0)
            if buffer.isEmpty { return lana_attach_socket_filter(fd, &one, 0) }
            return lana_attach_socket_filter(fd, buffer.baseAddress, UInt16(truncatingIfNeeded: buffer.count))
        }
        return (status == 0, status == 0 ? 0 : errno)
    }
}

/// Two network namespaces joined by a veth pair; side A has the MAC
/// ``BPFTestFrames/localMAC``. Torn down by `destroy()`.
final class BPFVethPair {
    let namespaceA: String, namespaceB: String
    let interfaceA: String, interfaceB: String
    private let namespaces: VethNamespaces

    init() throws {
        let tag = VethNamespaces.randomTag()
        let namespaces = try VethNamespaces(namespaceA: "lanabpf-\(tag)-a", namespaceB: "lanabpf-\(tag)-b")
        let link = try namespaces.addLink(a: "lb\(tag)a", b: "lb\(tag)b",
                                          macA: Self.mac(BPFTestFrames.localMAC), macB: Self.mac(BPFTestFrames.peerMAC))
        self.namespaces = namespaces
        namespaceA = namespaces.namespaceA; namespaceB = namespaces.namespaceB
        interfaceA = link.a; interfaceB = link.b
    }

    private static func mac(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }

    func destroy() { namespaces.destroy() }

    /// Runs `body` with the calling thread inside `namespace`.
    static func inNamespace<T>(_ namespace: String, _ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY)
        try require(original >= 0, "cannot open this thread's network namespace: errno \(errno)")
        defer { close(original) }
        let target = open("/run/netns/\(namespace)", O_RDONLY)
        try require(target >= 0, "cannot open namespace \(namespace): errno \(errno)")
        defer { close(target) }
        let status = lana_enter_net_namespace(target)
        try require(status == 0, "setns(\(namespace)) failed: errno \(status)")
        defer { precondition(lana_enter_net_namespace(original) == 0, "cannot return to the original namespace") }
        return try body()
    }
}

/// An `AF_PACKET` socket bound to one interface for all protocols, with
/// `PACKET_AUXDATA` so each frame comes with what the kernel's filter saw
/// besides the bytes.
final class BPFPacketSocket {
    let fd: CInt
    let interfaceIndex: Int32

    struct Frame {
        var bytes: [UInt8]
        var packetType: UInt8
        /// `skb->protocol`, host order.
        var protocolType: UInt16
        var vlanTCI: UInt16?
        var vlanTPID: UInt16
    }

    /// Opens the socket; call inside the interface's namespace. A socket
    /// that is not `receiving` only sends.
    init(interface: String, receiving: Bool = true) throws {
        interfaceIndex = Int32(if_nametoindex(interface))
        try require(interfaceIndex > 0, "no interface \(interface)")
        let all = receiving ? UInt16(ETH_P_ALL).bigEndian : 0
        fd = socket(AF_PACKET, CInt(SOCK_RAW.rawValue), CInt(all))
        try require(fd >= 0, "socket(AF_PACKET) failed: errno \(errno)")
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = all
        address.sll_ifindex = interfaceIndex
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
        }
        var one: CInt = 1
        setsockopt(fd, CInt(SOL_PACKET), CInt(PACKET_AUXDATA), &one, socklen_t(MemoryLayout<CInt>.size))
        var size: CInt = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<CInt>.size))
        if bound != 0 { let e = errno; close(fd); throw UnmetRequirement("bind(AF_PACKET, \(interface)) failed: errno \(e)") }
    }

    deinit { close(fd) }

    func send(_ frame: [UInt8]) throws {
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_ifindex = interfaceIndex
        address.sll_halen = 6
        let sent = frame.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                }
            }
        }
        try require(sent == frame.count, "sendto of a \(frame.count)-byte frame failed: errno \(errno)")
    }

    /// The next frame, waiting up to `timeoutMilliseconds` (0: only one
    /// already queued).
    func receive(timeoutMilliseconds: CInt) -> Frame? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, timeoutMilliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var control = [UInt8](repeating: 0, count: 256)
        var address = sockaddr_ll()
        let n = buffer.withUnsafeMutableBytes { data -> Int in
            control.withUnsafeMutableBytes { control -> Int in
                withUnsafeMutablePointer(to: &address) { address -> Int in
                    var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &vector) { vector -> Int in
                        var message = msghdr()
                        message.msg_name = UnsafeMutableRawPointer(address)
                        message.msg_namelen = socklen_t(MemoryLayout<sockaddr_ll>.size)
                        message.msg_iov = vector
                        message.msg_iovlen = 1
                        message.msg_control = control.baseAddress
                        message.msg_controllen = control.count
                        let n = recvmsg(fd, &message, CInt(MSG_DONTWAIT))
                        return n < 0 ? -1 : Int(n) | (Int(message.msg_controllen) << 32)
                    }
                }
            }
        }
        guard n >= 0 else { return nil }
        let length = n & 0xFFFF_FFFF, controlLength = n >> 32
        var frame = Frame(bytes: Array(buffer[0..<length]), packetType: address.sll_pkttype,
                          protocolType: UInt16(bigEndian: address.sll_protocol), vlanTCI: nil, vlanTPID: 0)
        // struct cmsghdr { size_t len; int level; int type; } then
        // struct tpacket_auxdata { u32 status, len, snaplen; u16 mac, net, vlan_tci, vlan_tpid; }.
        var offset = 0
        while offset + 16 <= controlLength {
            let cmsgLength = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int.self) }
            let level = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 8, as: Int32.self) }
            let type = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: Int32.self) }
            if level == SOL_PACKET && type == PACKET_AUXDATA && offset + 16 + 20 <= controlLength {
                control.withUnsafeBytes { raw in
                    let status = raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self)
                    let tci = raw.loadUnaligned(fromByteOffset: offset + 16 + 16, as: UInt16.self)
                    let tpid = raw.loadUnaligned(fromByteOffset: offset + 16 + 18, as: UInt16.self)
                    if status & (1 << 4) != 0 { frame.vlanTCI = tci }  // TP_STATUS_VLAN_VALID
                    if status & (1 << 6) != 0 { frame.vlanTPID = tpid }  // TP_STATUS_VLAN_TPID_VALID
                }
            }
            guard cmsgLength > 0 else { break }
            offset += (cmsgLength + 7) & ~7
        }
        return frame
    }

    func drain() { while receive(timeoutMilliseconds: 0) != nil {} }
}
