import CLANASupport
import Glibc
import SystemPackage

/// A route-netlink socket subscribed to link changes (`RTMGRP_LINK`) of the
/// network namespace it was opened in: it becomes readable whenever an
/// interface appears, goes up or down, or disappears.
///
/// Why: a daemon that must notice a hooked interface going away would
/// otherwise ask the kernel about every interface at intervals, and each
/// wake-up of an idle thread costs tens of microseconds of CPU on a VM. With
/// this socket it sleeps until something happened.
///
/// The messages themselves are not decoded: any change is a reason to look
/// at the interfaces again (`Interface.linkState`), and a lost message — the
/// socket's buffer overran (`ENOBUFS`) — is reported as a change too.
///
/// Threading: one reader at a time.
public final class LinkEvents: @unchecked Sendable {
    private let owner: OwnedDescriptor
    private let buffer: UnsafeMutableRawBufferPointer

    /// Poll this for `POLLIN`.
    public var descriptor: FileDescriptor { owner.descriptor }

    public init() throws(Errno) {
        let fd = try Syscall.socket(domain: AF_NETLINK, type: CInt(SOCK_RAW.rawValue) | CInt(SOCK_NONBLOCK.rawValue),
                                    protocol: NETLINK_ROUTE)
        owner = OwnedDescriptor(adopting: fd)
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = UInt32(RTMGRP_LINK)
        try Syscall.bind(fd, to: address)
        buffer = .allocate(byteCount: 16 * 1024, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// Reads every message waiting, without blocking. Returns how many
    /// there were (an overrun counts as one): 0 means nothing changed.
    @discardableResult
    public func drain() -> Int {
        var count = 0
        while true {
            do {
                let n = try Syscall.receive(descriptor, into: buffer, flags: 0)
                if n <= 0 { return count }
                count += 1
            } catch where error == .noBufferSpace {
                count += 1
            } catch {
                return count
            }
        }
    }
}
