import CNetlink

/// The attributes of the control protocol, as carried in `nlattr.nla_type`.
///
/// Every attribute has one ``Kind``; the table of kinds is the protocol's
/// attribute policy. Both sides enforce it: the encoder refuses to build a
/// message that violates it, and the decoder refuses to hand one on.
public enum ControlAttribute: UInt16, CaseIterable, Hashable, Sendable {
    /// A block name (the first operand).
    case name = 1
    /// A second block name (the second operand of BIND, REPLACE, …).
    case name2 = 2
    /// A block type (`dummy`, `counter`, …).
    case type = 3
    /// A `key=value` option for SET.
    case option = 4
    /// A network interface name (HOOK, UNHOOK; the root device of VADD).
    case interfaceName = 5
    /// A virtual link tag (VADD).
    case tag = 6
    /// ``ControlFlags`` (REPLACE).
    case flags = 7
    // 8 was LINE, APPLY's command lines as text, before APPLY carried
    // commands (``command``); it is not reused.
    /// In a reply to APPLY: the index (from 0) of the command that was refused.
    case commandIndex = 9
    /// In a reply: human-readable text, printed as is.
    case text = 10
    /// In a reply: the same content as JSON.
    case json = 11
    /// In an event message: the event as one line of text.
    case event = 12
    /// A port name (BIND): `up.<x>` of the lower block or `down.<x>` of
    /// the upper one.
    case port = 13
    /// One command of APPLY, nested: ``commandNumber`` first, then that
    /// command's own attributes, exactly as a request of it would carry
    /// them. Repeated once per command, in order.
    case command = 14
    /// Inside ``command``: the command, as `genlmsghdr.cmd` would carry it.
    case commandNumber = 15
    /// In a reply to LIST: the registry version the list shows, in decimal;
    /// the state file `version` names the one the state files show.
    case version = 16

    /// The largest attribute type this version knows.
    public static let maximum: ControlAttribute = .version

    /// What an attribute's payload is.
    public enum Kind: Hashable, Sendable {
        /// A UTF-8 string with a terminating NUL and no NUL inside. The
        /// limit counts the bytes of the string without the NUL.
        case string(maximumLength: Int)
        /// A 32-bit unsigned integer in host byte order, exactly 4 bytes.
        case u32
        /// Attributes (`NLA_NESTED`, with or without `NLA_F_NESTED`).
        case nested
    }

    /// The policy entry of this attribute.
    ///
    /// The string limits are loose on purpose: the daemon, not the codec,
    /// checks that a name has at most 15 bytes, so that the refusal can say
    /// so in the daemon's own words. They only bound what a message can
    /// make either side allocate. Options and lines allow most of a datagram
    /// because a BPF program travels as one option.
    public var kind: Kind {
        switch self {
        case .name, .name2, .type, .interfaceName, .port: .string(maximumLength: 255)
        case .option: .string(maximumLength: 61_440)
        case .text, .json, .event: .string(maximumLength: 65_000)
        case .version: .string(maximumLength: 20)
        case .tag, .flags, .commandIndex, .commandNumber: .u32
        case .command: .nested
        }
    }

    /// The attribute's name in messages (`NAME`, `IFNAME`, …).
    public var wireName: String {
        switch self {
        case .name: "NAME"
        case .name2: "NAME2"
        case .type: "TYPE"
        case .option: "OPTION"
        case .interfaceName: "IFNAME"
        case .tag: "TAG"
        case .flags: "FLAGS"
        case .commandIndex: "COMMAND_INDEX"
        case .text: "TEXT"
        case .json: "JSON"
        case .event: "EVENT"
        case .port: "PORT"
        case .command: "COMMAND"
        case .commandNumber: "CMD"
        case .version: "VERSION"
        }
    }

    /// The known types as ranges, for messages: `1…7, 9…15`.
    static let knownTypes: String = {
        var ranges: [(UInt16, UInt16)] = []
        for value in allCases.map(\.rawValue).sorted() {
            if let last = ranges.last, last.1 + 1 == value { ranges[ranges.count - 1].1 = value } else { ranges.append((value, value)) }
        }
        return ranges.map { $0.0 == $0.1 ? "\($0.0)" : "\($0.0)…\($0.1)" }.joined(separator: ", ")
    }()

    /// Whether an attribute may appear more than once in one message.
    var isRepeatable: Bool { self == .command }
}

/// The attribute policy as libnl wants it: a `struct nla_policy` array
/// indexed by attribute type, entry 0 unused.
///
/// libnl's `NLA_STRING` checks the terminating NUL and `maxlen` counts the
/// payload including it. libnl ignores types above `maxtype` and accepts
/// `NLA_U32` payloads longer than 4 bytes; the decoder's own walk
/// (`GenericNetlinkView`) closes those gaps before libnl sees the message.
enum ControlAttributePolicy {
    static let table: [nla_policy] = {
        var table = [nla_policy](
            repeating: nla_policy(), count: Int(ControlAttribute.maximum.rawValue) + 1)
        for attribute in ControlAttribute.allCases {
            var entry = nla_policy()
            switch attribute.kind {
            case .string(let maximumLength):
                entry.type = UInt16(NLA_STRING)
                entry.minlen = 1
                entry.maxlen = UInt16(maximumLength + 1)
            case .u32:
                entry.type = UInt16(NLA_U32)
                entry.minlen = 4
                entry.maxlen = 4
            case .nested:
                entry.type = UInt16(NLA_NESTED)
            }
            table[Int(attribute.rawValue)] = entry
        }
        return table
    }()
}

/// A set of attributes as a bit mask. The decoder checks which attributes a
/// message carries for every request; a `Set` would allocate each time.
public struct ControlAttributeSet: Equatable, Sendable, ExpressibleByArrayLiteral {
    var bits: UInt32 = 0

    public init() {}

    public init(_ attributes: some Sequence<ControlAttribute>) {
        for a in attributes { insert(a) }
    }

    public init(arrayLiteral attributes: ControlAttribute...) {
        self.init(attributes)
    }

    public func contains(_ attribute: ControlAttribute) -> Bool {
        bits & (1 << UInt32(attribute.rawValue)) != 0
    }

    public mutating func insert(_ attribute: ControlAttribute) {
        bits |= 1 << UInt32(attribute.rawValue)
    }

    public func isSubset(of other: ControlAttributeSet) -> Bool { bits & ~other.bits == 0 }

    public var isEmpty: Bool { bits == 0 }

    /// The members in ascending attribute type, for messages.
    public var members: [ControlAttribute] { ControlAttribute.allCases.filter(contains) }
}
