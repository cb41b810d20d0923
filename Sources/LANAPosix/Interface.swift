import CLANASupport
import Glibc
import SystemPackage

/// A network interface as the kernel describes it at one moment.
///
/// Interfaces are named and numbered per network namespace. Every query
/// here is answered by an ioctl on some socket, and the kernel answers in
/// the namespace of *that socket*, not of the calling thread: the `via:`
/// variants let a packet socket ask about its own namespace, while the
/// plain ones use a throwaway socket in the calling thread's namespace.
///
/// An `Interface` value is a snapshot; re-query to see changes (MTU,
/// up/running, the interface disappearing).
public struct Interface: Sendable, Hashable {
    public let name: String
    /// The ifindex: what packet sockets bind to and what survives renames.
    public let index: Int32
    public let hardwareAddress: MACAddress
    public let mtu: Int
    public let flags: Flags

    /// Administratively up (`ip link set … up`).
    public var isUp: Bool { flags.contains(.up) }
    /// Up and with carrier: frames can actually flow.
    public var isRunning: Bool { flags.contains(.running) }

    /// Interface flags (`SIOCGIFFLAGS`, the classic 16-bit `IFF_*` set).
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let up = Flags(rawValue: UInt32(IFF_UP))
        public static let broadcast = Flags(rawValue: UInt32(IFF_BROADCAST))
        public static let loopback = Flags(rawValue: UInt32(IFF_LOOPBACK))
        public static let running = Flags(rawValue: UInt32(IFF_RUNNING))
        /// Set administratively (`ip link set … promisc on`); a packet
        /// socket's promiscuous membership does not show here.
        public static let promiscuous = Flags(rawValue: UInt32(IFF_PROMISC))
        public static let multicast = Flags(rawValue: UInt32(IFF_MULTICAST))
    }

    /// Whether an interface can carry traffic, is merely down, or no longer
    /// exists. `down` heals by itself when the link comes back; `gone` is
    /// final for a socket bound to that ifindex (the kernel hands out
    /// ifindexes cyclically, so a new interface gets a new number).
    public enum LinkState: Sendable, Hashable {
        case running
        case down
        case gone
    }

    /// Looks `name` up in the calling thread's network namespace.
    public init(named name: String) throws(Errno) {
        let control = try Interface.controlSocket()
        try self.init(named: name, via: control.descriptor)
    }

    /// Looks `index` up in the calling thread's network namespace.
    public init(index: Int32) throws(Errno) {
        let control = try Interface.controlSocket()
        try self.init(index: index, via: control.descriptor)
    }

    /// Looks `name` up in the namespace of the socket `fd`.
    public init(named name: String, via fd: FileDescriptor) throws(Errno) {
        self.index = try Syscall.interfaceIndex(fd, name: name)
        self.hardwareAddress = MACAddress(try Syscall.interfaceHardwareAddress(fd, name: name))
        self.mtu = try Syscall.interfaceMTU(fd, name: name)
        self.flags = Flags(rawValue: try Syscall.interfaceFlags(fd, name: name))
        self.name = name
    }

    /// Looks `index` up in the namespace of the socket `fd`.
    public init(index: Int32, via fd: FileDescriptor) throws(Errno) {
        try self.init(named: try Syscall.interfaceName(fd, index: index), via: fd)
    }

    /// The ifindex of `name` in the calling thread's namespace; throws
    /// ENODEV when there is no such interface.
    public static func index(named name: String) throws(Errno) -> Int32 {
        let control = try controlSocket()
        return try Syscall.interfaceIndex(control.descriptor, name: name)
    }

    /// The current name of interface `index` in the namespace of `fd`.
    public static func name(ofIndex index: Int32, via fd: FileDescriptor) throws(Errno) -> String {
        try Syscall.interfaceName(fd, index: index)
    }

    /// Whether interface `index` still exists, is down, or is running, seen
    /// from the namespace of the socket `fd`.
    ///
    /// This is how a packet socket tells "the link flapped" (it will resume
    /// by itself when the interface comes back up) from "the interface was
    /// deleted or moved away" (the socket will never receive again).
    public static func linkState(index: Int32, via fd: FileDescriptor) -> LinkState {
        do {
            let name = try Syscall.interfaceName(fd, index: index)
            let flags = Flags(rawValue: try Syscall.interfaceFlags(fd, name: name))
            return flags.isSuperset(of: [.up, .running]) ? .running : .down
        } catch {
            // The interface can vanish between the two ioctls, hence both
            // errors are classified the same way.
            return error.indicatesInterfaceGone ? .gone : .down
        }
    }

    /// `linkState(index:via:)` in the calling thread's namespace.
    public static func linkState(index: Int32) -> LinkState {
        guard let control = try? controlSocket() else { return .down }
        return linkState(index: index, via: control.descriptor)
    }

    /// A socket only used to ask the kernel about interfaces. AF_UNIX needs
    /// no privilege and no protocol module; interface ioctls on any socket
    /// fall through to the namespace's device table.
    private static func controlSocket() throws(Errno) -> OwnedDescriptor {
        OwnedDescriptor(adopting: try Syscall.socket(domain: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue), protocol: 0))
    }
}

extension Errno {
    /// The error means the interface a socket was bound to no longer exists
    /// (deleted, or moved to another namespace): ENXIO from a send, ENODEV
    /// from an interface lookup.
    public var indicatesInterfaceGone: Bool {
        self == .noSuchAddressOrDevice || self == .operationNotSupportedByDevice
    }

    /// The error means the link is down or gone (ENETDOWN is what a packet
    /// socket reports for both; ask `Interface.linkState` to tell them apart).
    public var indicatesLinkLoss: Bool {
        self == .networkDown || indicatesInterfaceGone
    }
}

/// A 48-bit Ethernet address.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    /// The six bytes, first on the wire in the most significant position.
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue & 0xFFFF_FFFF_FFFF
    }

    /// Six bytes in wire order.
    public init<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        precondition(bytes.count == 6, "a MAC address has six bytes")
        self.rawValue = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The six bytes in wire order.
    public var bytes: [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64($0))) }
    }

    public var description: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined(separator: ":")
    }
}
