import CLANASupport
import Glibc
import LANAPosix
import SystemPackage

/// The far end of a test link: a plain AF_PACKET socket (no ring, one
/// system call per frame), deliberately independent of the code under test.
final class RawPeer: @unchecked Sendable {
    let fd: CInt
    let interfaceIndex: Int32

    /// Must be created on a thread inside the peer's namespace.
    /// `etherType` 0 receives nothing (send-only).
    init(interface: String, etherType: UInt16 = TestFrames.etherType) throws {
        interfaceIndex = try Interface.index(named: interface)
        fd = socket(AF_PACKET, CInt(SOCK_RAW.rawValue), CInt(etherType.bigEndian))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = etherType.bigEndian
        address.sll_ifindex = interfaceIndex
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
            }
        }
        guard result == 0 else { let e = errno; close(fd); throw Errno(rawValue: e) }
        // Room for a whole test burst of full-size frames.
        var size: CInt = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<CInt>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, socklen_t(MemoryLayout<CInt>.size))
    }

    deinit {
        close(fd)
    }

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
        guard sent == frame.count else { throw Errno(rawValue: errno) }
    }

    /// The next frame, or nil if none arrives within `timeoutMilliseconds`.
    func receive(timeoutMilliseconds: CInt) -> [UInt8]? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, timeoutMilliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, CInt(MSG_DONTWAIT)) }
        guard n >= 0 else { return nil }
        return Array(buffer[0..<n])
    }
}

/// Test frames: EtherType 0x88B5 ("local experimental"), a sequence number
/// and a payload pattern that differs per frame, so a frame delivered twice,
/// out of place or with a corrupted byte is noticed.
enum TestFrames {
    static let etherType: UInt16 = 0x88B5
    static let sizes = [60, 128, 512, 1514]
    static let destination: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
    static let source: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]

    static func frame(sequence: UInt32, size: Int) -> [UInt8] {
        var bytes = destination + source + [UInt8(etherType >> 8), UInt8(etherType & 0xFF)]
        bytes += withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
        var i = bytes.count
        while bytes.count < size {
            bytes.append(UInt8(truncatingIfNeeded: Int(sequence) &* 131 &+ i &* 7))
            i += 1
        }
        return bytes
    }

    static func sequence(of frame: UnsafeRawBufferPointer) -> UInt32? {
        guard frame.count >= 18, frame[12] == 0x88, frame[13] == 0xB5 else { return nil }
        return UInt32(frame[14]) << 24 | UInt32(frame[15]) << 16 | UInt32(frame[16]) << 8 | UInt32(frame[17])
    }

    /// An IPv4/UDP frame of flow `flow` (addresses and ports vary with it),
    /// for the kernel's flow hash to spread over a fanout group. The
    /// destination MAC is not the receiver's, so the host stack drops it
    /// right away (PACKET_OTHERHOST).
    static func udpFrame(flow: UInt32, sequence: UInt32) -> [UInt8] {
        var bytes = destination + source + [0x08, 0x00]
        let total: UInt16 = 20 + 8 + 18
        var ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 17, 0, 0]
        ip += [10, UInt8(flow >> 16 & 0xFF), UInt8(flow >> 8 & 0xFF), UInt8(flow & 0xFF)]
        ip += [10, 200, UInt8(flow >> 8 & 0xFF), UInt8((flow &* 7) & 0xFF)]
        var sum: UInt32 = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        ip[10] = UInt8(checksum >> 8)
        ip[11] = UInt8(checksum & 0xFF)
        bytes += ip
        let sourcePort = UInt16(1024 + flow % 50000)
        let destinationPort = UInt16(9000 + flow % 1000)
        bytes += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF),
                  UInt8(destinationPort >> 8), UInt8(destinationPort & 0xFF), 0, 26, 0, 0]
        bytes += withUnsafeBytes(of: flow.bigEndian) { Array($0) }
        bytes += withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
        while bytes.count < 60 { bytes.append(0xA5) }
        return bytes
    }

    /// The flow number carried by `udpFrame`.
    static func flow(of frame: UnsafeRawBufferPointer) -> UInt32? {
        guard frame.count >= 46, frame[12] == 0x08, frame[13] == 0x00 else { return nil }
        return UInt32(frame[42]) << 24 | UInt32(frame[43]) << 16 | UInt32(frame[44]) << 8 | UInt32(frame[45])
    }
}
