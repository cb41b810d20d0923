/// The LANA control protocol: generic netlink messages carried over a
/// Unix-domain `SOCK_SEQPACKET` socket.
///
/// Each datagram is exactly one netlink message: a `struct nlmsghdr`, a
/// `struct genlmsghdr`, then attributes. The Linux kernel's generic netlink
/// cannot host a family served from user space, so there is no controller to
/// resolve the family name `LANA` to a message type; the family instead owns
/// the fixed message type ``familyID``.
///
/// A request carries `NLM_F_REQUEST | NLM_F_ACK` and a sequence number. Its
/// reply is zero or more data messages of the family (all flagged
/// `NLM_F_MULTI` and closed by `NLMSG_DONE`), then exactly one `NLMSG_ERROR`
/// carrying `-errno` (0 = success) and, on failure, an extended-ack message
/// (`NLMSGERR_ATTR_MSG`) naming the offending argument. A connection that
/// sent ``ControlCommand/watch`` also receives unsolicited event messages
/// (command ``eventCommand``, sequence number 0).
public enum ControlProtocol {
    /// The family's name, as the kernel's controller would know it.
    public static let familyName = "LANA"

    /// The netlink message type of the family. Types below 0x10
    /// (`NLMSG_MIN_TYPE`) are netlink's own and 0x10 is the generic netlink
    /// controller; 0x20 is clear of both and of the kernel's statically
    /// assigned families.
    public static let familyID: UInt16 = 0x20

    /// The `genlmsghdr.version` this implementation speaks.
    public static let version: UInt8 = 1

    /// The generic netlink command of an event message pushed to watchers.
    /// Never valid in a request.
    public static let eventCommand: UInt8 = 0x40

    /// The largest datagram either side sends or accepts. Bounds what a
    /// client can make the daemon allocate per message.
    public static let maximumDatagramSize = 65_536
}

/// The commands of the control protocol, as carried in `genlmsghdr.cmd`:
/// the wire number of each case of ``Command``.
///
/// Every command is a request from a client; which attributes it takes is
/// listed in ``requiredAttributes`` and ``optionalAttributes`` (the
/// decoder's walk enforces that list; ``Command/init(decoding:)-(UnsafeRawBufferPointer)``
/// names a missing one).
public enum ControlCommand: UInt8, CaseIterable, Hashable, Sendable {
    /// Build a block: `NAME`, `TYPE`.
    case add = 1
    /// Remove a block: `NAME`.
    case remove = 2
    /// Send an option to a block: `NAME`, `OPTION` ("key=value").
    case set = 3
    /// `NAME` on top of `NAME2`.
    case bind = 4
    /// Undo a bind of `NAME` on top of `NAME2`.
    case unbind = 5
    /// `NAME2` takes over `NAME`; `FLAGS` may carry ``ControlFlags/drop``.
    case replace = 6
    /// `NAME2` receives the events of `NAME`.
    case subscribe = 7
    /// Undo a subscription of `NAME2` to `NAME`.
    case unsubscribe = 8
    /// Dump all blocks; the reply is multi-part.
    case list = 9
    /// Describe one block: `NAME`.
    case show = 10
    /// Create the `eth` block of an interface: `IFNAME`.
    case hook = 11
    /// Remove the `eth` block of an interface: `IFNAME`.
    case unhook = 12
    /// Create a tagged virtual link: `NAME`, `IFNAME` (the root device), `TAG`.
    case addVirtualLink = 13
    /// Remove a virtual link: `NAME`.
    case removeVirtualLink = 14
    /// Subscribe this connection to the event stream.
    case watch = 15
    /// Check and run commands as one unit: `COMMAND`, repeated, each
    /// holding one command's attributes.
    case apply = 16
    /// Dump the registered block types with their options; multi-part.
    case types = 17

    /// The command's name in messages, as in the specification's table.
    public var wireName: String {
        switch self {
        case .add: "ADD"
        case .remove: "RM"
        case .set: "SET"
        case .bind: "BIND"
        case .unbind: "UNBIND"
        case .replace: "REPLACE"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .list: "LIST"
        case .show: "SHOW"
        case .hook: "HOOK"
        case .unhook: "UNHOOK"
        case .addVirtualLink: "VADD"
        case .removeVirtualLink: "VRM"
        case .watch: "WATCH"
        case .apply: "APPLY"
        case .types: "TYPES"
        }
    }

    /// Attributes a request of this command must carry.
    public var requiredAttributes: [ControlAttribute] {
        switch self {
        case .add: [.name, .type]
        case .remove, .show, .removeVirtualLink: [.name]
        case .set: [.name, .option]
        case .bind, .unbind, .replace, .subscribe, .unsubscribe: [.name, .name2]
        case .hook, .unhook: [.interfaceName]
        case .addVirtualLink: [.name, .interfaceName, .tag]
        case .list, .watch, .apply, .types: []
        }
    }

    /// Attributes a request of this command may carry besides the required
    /// ones. Anything else is refused, so a client bug surfaces as `EINVAL`
    /// instead of an argument being silently ignored.
    public var optionalAttributes: [ControlAttribute] {
        switch self {
        case .replace: [.flags]
        case .bind: [.port]
        case .apply: [.command]
        default: []
        }
    }

    /// ``requiredAttributes`` and ``optionalAttributes`` as a set, computed
    /// once per command: what the decoder's walk lets through.
    var allowedAttributeSet: ControlAttributeSet { Self.allowedSets[Int(rawValue)] }

    private static let allowedSets: [ControlAttributeSet] = {
        var sets = [ControlAttributeSet](repeating: [], count: Int(allCases.map(\.rawValue).max()!) + 1)
        for c in allCases { sets[Int(c.rawValue)] = ControlAttributeSet(c.requiredAttributes + c.optionalAttributes) }
        return sets
    }()

    /// Whether the reply is a dump (the request carries `NLM_F_DUMP`).
    public var isDump: Bool { self == .list || self == .types }
}

/// Flags of the `FLAGS` attribute.
public struct ControlFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// REPLACE without moving the private state (`fbctl replace-drop`).
    public static let drop = ControlFlags(rawValue: 1 << 0)

    /// Every flag this version knows; other bits are refused.
    public static let known: ControlFlags = [.drop]
}

/// Netlink's own message types and flags, typed once here because the C
/// headers import them as `Int32` while the header fields are `UInt16`.
enum NetlinkConstant {
    static let noop: UInt16 = 0x1
    static let error: UInt16 = 0x2
    static let done: UInt16 = 0x3
    static let overrun: UInt16 = 0x4

    static let flagRequest: UInt16 = 0x1
    static let flagMulti: UInt16 = 0x2
    static let flagAck: UInt16 = 0x4
    static let flagDump: UInt16 = 0x300
    /// In NLMSG_ERROR: only the request's header is echoed, not its payload.
    static let flagCapped: UInt16 = 0x100
    /// In NLMSG_ERROR: extended-ack attributes follow.
    static let flagAckTLVs: UInt16 = 0x200

    static let extAckMessage: UInt16 = 1      // NLMSGERR_ATTR_MSG
    static let extAckOffset: UInt16 = 2       // NLMSGERR_ATTR_OFFS

    static let headerSize = 16                // NLMSG_HDRLEN
    static let genericHeaderSize = 4          // GENL_HDRLEN
    static let attributeHeaderSize = 4        // NLA_HDRLEN
    static let errorPayloadSize = 20          // sizeof(struct nlmsgerr)

    /// Attribute type bits that are flags rather than part of the type.
    static let attributeFlagMask: UInt16 = 0xC000
    /// NLA_F_NESTED.
    static let attributeNestedFlag: UInt16 = 0x8000

    static func align(_ length: Int) -> Int { (length + 3) & ~3 }
}
