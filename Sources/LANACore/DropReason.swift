/// Why the engine dropped a packet. Every drop is counted under one of these.
///
/// The raw values index the per-engine drop counters and are part of the
/// ``Verdict`` encoding, so they must stay below 256.
public enum DropReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The packet travelled down from a block whose `down` port is unbound.
    case unboundPort = 0
    /// A block sent the packet to IDP 0.
    case noNextHop = 1
    /// The packet visited more than ``Engine/hopLimit`` blocks.
    case hopLimit = 2
    /// The next IDP is not mapped in the dispatch table (removed block).
    case unknownIDP = 3
    /// The engine's backlog was full when a block created a packet.
    case backlogFull = 4
    /// The packet pool had no free buffer.
    case poolEmpty = 5
    /// A filter block did not match and had no no-match port.
    case filtered = 6
    /// A frame too short or otherwise malformed for the block.
    case malformed = 7
    /// The interface refused to transmit the frame.
    case transmitError = 8
    /// The frame was larger than a pool buffer.
    case oversize = 9
    /// A block-specific reason not covered above.
    case blockSpecific = 10
    /// The engine was stopping and drained the packet.
    case shutdown = 11
    /// Not a loss: the packet went up to a block with nothing bound on top,
    /// the normal end of its path. Counted as `ended`, never among the
    /// drops (see ``EngineCounters/totalDrops``).
    case ended = 12
    /// The kernel had taken the frame's VLAN tag out, and the receive ring
    /// left no room in front of the frame to put it back (never for
    /// Ethernet): the frame is dropped rather than passed on without it.
    case vlanHeadroom = 13
    /// A protocol checksum did not match (FLIP's Checksum field).
    case checksum = 14
    /// A forwarder got a packet whose hop limit (FLIP TTL) was 1 or less.
    case ttlExpired = 15
    /// Not for a local address, and the block does not forward (or cannot).
    case noRoute = 16
    /// A packet waited for an address resolution that got no answer in time.
    case arpTimeout = 17
    /// A packet found its address's resolution queue full.
    case arpQueueFull = 18
    /// A frame addressed to another host's link address (unicast, not ours).
    case otherHost = 19
    /// A fragment of a larger packet; reassembly is not supported.
    case fragment = 20
    /// An address to resolve found the resolution table full.
    case arpTableFull = 21

    /// The name used in the `drops` state file and by `fbctl`.
    public var description: String {
        switch self {
        case .unboundPort: return "unbound-port"
        case .noNextHop: return "no-next-hop"
        case .hopLimit: return "hop-limit"
        case .unknownIDP: return "unknown-idp"
        case .backlogFull: return "backlog-full"
        case .poolEmpty: return "pool-empty"
        case .filtered: return "filtered"
        case .malformed: return "malformed"
        case .transmitError: return "transmit-error"
        case .oversize: return "oversize"
        case .blockSpecific: return "block-specific"
        case .shutdown: return "shutdown"
        case .ended: return "ended"
        case .vlanHeadroom: return "vlan-headroom"
        case .checksum: return "checksum"
        case .ttlExpired: return "ttl-expired"
        case .noRoute: return "no-route"
        case .arpTimeout: return "arp-timeout"
        case .arpQueueFull: return "arp-queue-full"
        case .otherHost: return "other-host"
        case .fragment: return "fragment"
        case .arpTableFull: return "arp-table-full"
        }
    }

    /// Number of distinct reasons; sizes the counter arrays.
    public static let count = DropReason.allCases.count

    /// The reasons that are losses: every case but ``ended``.
    public static let losses = allCases.filter { $0 != .ended }
}

/// What a block decided for one packet, written into the packet's metadata.
///
/// Packed into the 32-bit `next` field of ``PacketMeta`` so that the engine
/// reads one word per packet after a block call: values up to
/// ``IDP/maximum`` forward to that IDP, the top of the range encodes
/// "consumed" and "dropped for a reason".
public struct Verdict: Equatable, Sendable {
    public let rawValue: UInt32

    @inlinable
    init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Send the packet on to `idp` (`.none` makes the engine drop it as
    /// `no-next-hop`).
    @inlinable
    public static func forward(_ idp: IDP) -> Verdict { Verdict(rawValue: idp.rawValue) }

    /// The block took ownership (transmitted, queued or freed it itself).
    @inlinable
    public static var consumed: Verdict { Verdict(rawValue: 0xFFFF_FFFF) }

    /// The engine frees the packet and counts it under `reason`.
    @inlinable
    public static func drop(_ reason: DropReason) -> Verdict {
        Verdict(rawValue: 0xFFFF_FF00 | UInt32(reason.rawValue))
    }

    /// The packet reached the top of the graph: the engine frees it and
    /// counts it as `ended` (not a drop).
    /// (A computed constant: a stored `static let` is reached through a
    /// lazy-initialisation addressor call on every use.)
    @inlinable
    public static var end: Verdict { Verdict(rawValue: 0xFFFF_FF00 | UInt32(DropReason.ended.rawValue)) }

    @usableFromInline
    static let firstSpecial: UInt32 = 0xFFFF_FF00
}
