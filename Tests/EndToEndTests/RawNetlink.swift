import Glibc
import LANATestSupport

// Raw access to the control socket: hand-built netlink messages over a plain
// AF_UNIX SOCK_SEQPACKET socket, without LANAControl, so that tests can send
// what no well-behaved client would.

struct RawSocketError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32
    var description: String { "\(operation): \(String(cString: strerror(code))) (\(code))" }
}

/// A connected client socket (blocking, with send and receive timeouts).
final class RawSocket {
    let fd: Int32

    init(path: String, timeoutSeconds: Int = 5, nonBlockingConnect: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError(operation: "socket", code: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw RawSocketError(operation: "path too long", code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw RawSocketError(operation: "connect \(path)", code: code)
        }
    }

    deinit { close(fd) }

    /// Sends one datagram; returns false on failure (errno set).
    @discardableResult
    func send(_ bytes: [UInt8], flags: Int32 = 0) -> Bool {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | flags) }
        return n == bytes.count
    }

    /// Receives one datagram (bounded by the receive timeout); nil on
    /// timeout or error, [] on EOF/empty datagram.
    func receive(capacity: Int = 70_000) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: capacity)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return Array(buffer[0..<n]) }
            if errno == EINTR { continue }
            return nil
        }
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}

/// Netlink constants the tests use (values from <linux/netlink.h>).
enum NL {
    static let error: UInt16 = 2
    static let done: UInt16 = 3
    static let request: UInt16 = 0x1
    static let multi: UInt16 = 0x2
    static let ack: UInt16 = 0x4
    static let dump: UInt16 = 0x300
    static let ackTLVs: UInt16 = 0x200
    static let family: UInt16 = 0x20

    enum Attr: UInt16 {
        // 8 was LINE (APPLY's text lines), retired.
        case name = 1, name2, type, option, ifname, tag, flags
        case commandIndex = 9, text, json, event, port, command, cmd
    }

    enum Cmd: UInt8 {
        case add = 1, rm, set, bind, unbind, replace, subscribe, unsubscribe, list, show
        case hook, unhook, vadd, vrm, watch, apply
    }
}

/// Builds messages byte by byte.
enum Wire {
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
    static func align(_ n: Int) -> Int { (n + 3) & ~3 }

    /// An attribute with an explicit `nla_len` (default: honest) and padding.
    static func attribute(_ type: UInt16, _ payload: [UInt8], declaredLength: Int? = nil, pad: Bool = true) -> [UInt8] {
        let length = 4 + payload.count
        var out = le16(UInt16(truncatingIfNeeded: declaredLength ?? length)) + le16(type) + payload
        if pad { out += [UInt8](repeating: 0, count: align(length) - length) }
        return out
    }

    static func string(_ type: NL.Attr, _ s: String) -> [UInt8] { attribute(type.rawValue, Array(s.utf8) + [0]) }
    static func u32(_ type: NL.Attr, _ v: UInt32) -> [UInt8] { attribute(type.rawValue, le32(v)) }

    /// nlmsghdr + genlmsghdr + attributes. `length` overrides nlmsg_len.
    static func message(command: UInt8, attributes: [UInt8] = [], sequence: UInt32, type: UInt16 = NL.family,
                        flags: UInt16 = NL.request | NL.ack, version: UInt8 = 1, length: UInt32? = nil,
                        port: UInt32 = 0) -> [UInt8] {
        let total = 20 + attributes.count
        return le32(length ?? UInt32(total)) + le16(type) + le16(flags) + le32(sequence) + le32(port)
            + [command, version, 0, 0] + attributes
    }
}

/// A reply datagram, parsed without trust.
struct RawReply: CustomStringConvertible {
    let bytes: [UInt8]

    private func u16(_ at: Int) -> UInt16? {
        guard at + 2 <= bytes.count else { return nil }
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }
    private func u32(_ at: Int) -> UInt32? {
        guard at + 4 <= bytes.count else { return nil }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
    }

    var length: UInt32? { u32(0) }
    var type: UInt16? { u16(4) }
    var flags: UInt16? { u16(6) }
    var sequence: UInt32? { u32(8) }
    /// For NLMSG_ERROR: the (negative) errno.
    var error: Int32? { type == NL.error ? u32(16).map { Int32(bitPattern: $0) } : nil }

    /// The extended-ack message (NLMSGERR_ATTR_MSG) of an NLMSG_ERROR.
    var extendedAckMessage: String? {
        guard type == NL.error, let flags, flags & NL.ackTLVs != 0, let total = length else { return nil }
        // Capped acks carry only the echoed header: 16 + 4 + 16 bytes.
        var offset = 16 + 20
        if flags & 0x100 == 0, let echoed = u32(20) { offset = 16 + 4 + Wire.align(Int(echoed)) }
        let end = min(Int(total), bytes.count)
        while offset + 4 <= end, let len = u16(offset), let kind = u16(offset + 2), len >= 4, offset + Int(len) <= end {
            if kind == 1 {
                let payload = bytes[(offset + 4)..<(offset + Int(len))]
                return String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
            }
            offset += Wire.align(Int(len))
        }
        return nil
    }

    var description: String {
        "type \(type.map(String.init) ?? "?") flags 0x\(String(flags ?? 0, radix: 16)) seq \(sequence.map(String.init) ?? "?") error \(error.map(String.init) ?? "-") msg \(extendedAckMessage ?? "-") (\(bytes.count) bytes)"
    }
}


extension SplitMix64 {
    /// `n` random bytes.
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}
