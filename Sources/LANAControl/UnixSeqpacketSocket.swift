// Unsafe code: the system-call layer of the control channel (sockets).
// Nothing else in the module calls these system calls; waiting for them is
// LANAPosix's EventLoop's business.
//
// Invariants:
// - A `UnixSeqpacketSocket` owns its descriptor: it is
//   created with close-on-exec, closed exactly once in `deinit`, and never
//   closed while another thread may still use it (the owner is a class whose
//   descriptor is a `let`; closing happens only when the last reference goes).
// - Every buffer handed to the kernel is a Swift array or a stack value
//   accessed through `withUnsafe…` for the duration of the call only, with
//   the length passed being that buffer's length.
// - `sockaddr_un` paths are checked to fit `sun_path` with their NUL before
//   they are copied in; an over-long path is `ENAMETOOLONG`, never cut.
// - Calls interrupted by a signal (EINTR) are retried.
// - Sends use MSG_NOSIGNAL: a vanished peer is an EPIPE error, not SIGPIPE.

import CLANASupport
import Glibc
import SystemPackage

/// An `AF_UNIX`, `SOCK_SEQPACKET` socket: connection-oriented, reliable,
/// ordered, and message-preserving, so one `send` is one `recv` on the other
/// side and a netlink message never needs framing.
final class UnixSeqpacketSocket: Sendable {
    /// The socket's file descriptor, owned by this object.
    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        _ = Glibc.close(descriptor)
    }

    private static func makeSocket(nonBlocking: Bool) throws(Errno) -> UnixSeqpacketSocket {
        var type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let descriptor = Glibc.socket(AF_UNIX, type, 0)
        guard descriptor >= 0 else { throw Errno(rawValue: Glibc.errno) }
        return UnixSeqpacketSocket(descriptor: descriptor)
    }

    /// Fills a `sockaddr_un` for `path` and calls `body` with it.
    private static func withAddress<R>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(Errno) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw bytes.isEmpty || bytes.contains(0) ? .invalidArgument : .fileNameTooLong
        }
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            sunPath.copyBytes(from: bytes)
            sunPath[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Connects a blocking socket to `path`.
    ///
    /// - Parameter timeout: Bounds the connect itself (a listener with a full
    ///   backlog makes it block) and every later send and receive.
    static func connect(to path: String, timeout: Duration?) throws(Errno) -> UnixSeqpacketSocket {
        let socket = try makeSocket(nonBlocking: false)
        try socket.setTimeouts(timeout)
        while true {
            let result = try withAddress(path) { Glibc.connect(socket.descriptor, $0, $1) }
            if result == 0 { return socket }
            let error = Errno(rawValue: Glibc.errno)
            if error != .interrupted { throw error }
        }
    }

    /// Binds a non-blocking socket to `path`. The caller sets the file's
    /// mode and group before ``listen(backlog:)``, so no client can connect
    /// while the permissions are still the umask's.
    static func bind(to path: String) throws(Errno) -> UnixSeqpacketSocket {
        let socket = try makeSocket(nonBlocking: true)
        let result = try withAddress(path) { Glibc.bind(socket.descriptor, $0, $1) }
        guard result == 0 else { throw Errno(rawValue: Glibc.errno) }
        return socket
    }

    /// Starts accepting connections.
    func listen(backlog: Int32) throws(Errno) {
        guard Glibc.listen(descriptor, backlog) == 0 else { throw Errno(rawValue: Glibc.errno) }
    }

    /// Accepts one pending connection as a non-blocking socket, or returns
    /// `nil` when none is pending.
    func accept() throws(Errno) -> UnixSeqpacketSocket? {
        while true {
            let client = accept4(
                descriptor, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            if client >= 0 { return UnixSeqpacketSocket(descriptor: client) }
            let error = Errno(rawValue: Glibc.errno)
            switch error {
            case .interrupted: continue
            case .wouldBlock, .resourceTemporarilyUnavailable: return nil
            default: throw error
            }
        }
    }

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO`; `nil` blocks without limit.
    func setTimeouts(_ timeout: Duration?) throws(Errno) {
        try setTimeout(SO_RCVTIMEO, timeout)
        try setTimeout(SO_SNDTIMEO, timeout)
    }

    /// Sets `SO_RCVTIMEO` only; `nil` blocks without limit.
    func setReceiveTimeout(_ timeout: Duration?) throws(Errno) {
        try setTimeout(SO_RCVTIMEO, timeout)
    }

    private func setTimeout(_ option: Int32, _ timeout: Duration?) throws(Errno) {
        var value = timeval()
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            value.tv_sec = Int(max(seconds, 0))
            value.tv_usec = Int(max(attoseconds, 0) / 1_000_000_000_000)
            if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
        }
        let result = setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        guard result == 0 else { throw Errno(rawValue: Glibc.errno) }
    }

    /// The outcome of a send.
    enum SendResult {
        case sent
        /// A non-blocking socket's buffer is full; try again when writable.
        case wouldBlock
    }

    /// Sends one datagram.
    ///
    /// - Throws: `EPIPE`/`ECONNRESET` when the peer is gone, `EAGAIN` when a
    ///   blocking socket's send timeout expired, other errnos as they come.
    func send(_ datagram: [UInt8]) throws(Errno) -> SendResult {
        while true {
            let sent = datagram.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent >= 0 { return .sent }
            let error = Errno(rawValue: Glibc.errno)
            switch error {
            case .interrupted: continue
            case .wouldBlock, .resourceTemporarilyUnavailable: return .wouldBlock
            default: throw error
            }
        }
    }

    /// The outcome of a receive.
    enum ReceiveResult {
        /// A datagram of `length` bytes; when `length` exceeds the buffer it
        /// was truncated and only the buffer's worth is in it.
        case datagram(length: Int)
        /// No datagram is waiting (non-blocking socket), or the receive
        /// timeout expired (blocking socket).
        case wouldBlock
        /// Zero bytes: the peer closed, or sent an empty datagram. A caller
        /// that waits for readiness tells them apart by a hang-up
        /// (EPOLLHUP/EPOLLRDHUP).
        case empty
    }

    /// Receives one datagram into `buffer`, reporting its true length even
    /// when it did not fit (MSG_TRUNC).
    /// With `nonBlocking`, returns `.wouldBlock` at once when no datagram
    /// is waiting, even on a blocking socket (MSG_DONTWAIT).
    func receive(into buffer: inout [UInt8], nonBlocking: Bool = false) throws(Errno) -> ReceiveResult {
        let flags = Int32(MSG_TRUNC) | (nonBlocking ? Int32(MSG_DONTWAIT) : 0)
        while true {
            let received = buffer.withUnsafeMutableBytes {
                Glibc.recv(descriptor, $0.baseAddress, $0.count, flags)
            }
            if received > 0 { return .datagram(length: received) }
            if received == 0 { return .empty }
            let error = Errno(rawValue: Glibc.errno)
            switch error {
            case .interrupted: continue
            case .wouldBlock, .resourceTemporarilyUnavailable: return .wouldBlock
            default: throw error
            }
        }
    }

    /// The peer's process, user and group at connect time (`SO_PEERCRED`)
    /// and its supplementary groups (`SO_PEERGROUPS`, or `nil` where the
    /// kernel predates it).
    func peerCredentials() throws(Errno) -> (pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32]?) {
        var credentials = lana_ucred()
        var length = socklen_t(MemoryLayout<lana_ucred>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            throw Errno(rawValue: Glibc.errno)
        }
        return (credentials.pid, credentials.uid, credentials.gid, peerGroups())
    }

    private func peerGroups() -> [UInt32]? {
        var groups = [UInt32](repeating: 0, count: 64)
        while true {
            var length = socklen_t(groups.count * MemoryLayout<UInt32>.size)
            let result = groups.withUnsafeMutableBytes {
                getsockopt(descriptor, SOL_SOCKET, lana_so_peergroups(), $0.baseAddress, &length)
            }
            if result == 0 {
                return Array(groups.prefix(Int(length) / MemoryLayout<UInt32>.size))
            }
            // ERANGE reports the size needed; NGROUPS_MAX bounds it.
            guard Glibc.errno == ERANGE, Int(length) > groups.count * 4, length <= 65_536 * 4 else {
                return nil
            }
            groups = [UInt32](repeating: 0, count: Int(length) / 4)
        }
    }
}
