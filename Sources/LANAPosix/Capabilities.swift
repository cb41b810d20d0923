import CLANASupport
import SystemPackage

/// The Linux capabilities a thread holds (capabilities(7)): what lets a
/// process that is not root, or root in a restricted container, do
/// privileged things — and what such a process lacks.
public struct Capability: Hashable, Sendable, CustomStringConvertible {
    /// The capability's bit, as in `linux/capability.h`.
    public let number: Int
    /// `CAP_NET_RAW`.
    public let name: String

    public init(number: Int, name: String) {
        self.number = number
        self.name = name
    }

    /// Open `AF_PACKET` and raw sockets.
    public static let netRaw = Capability(number: 13, name: "CAP_NET_RAW")
    /// Configure interfaces, create TAP devices, force socket buffer sizes.
    public static let netAdmin = Capability(number: 12, name: "CAP_NET_ADMIN")

    public var description: String { name }

    /// The calling thread's effective set, bit n for capability n.
    public static func effectiveSet() throws(Errno) -> UInt64 {
        var set: UInt64 = 0
        try Errno.check(lana_effective_capabilities(&set))
        return set
    }
}
