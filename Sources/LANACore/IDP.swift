/// An information dispatch point: the 32-bit address of a functional block.
///
/// Blocks never hold references to each other; they name their neighbours by
/// IDP and the engine resolves the IDP through the current dispatch table.
/// That indirection is what makes live reconfiguration possible: `replace`
/// moves an IDP to a new block in one atomic table swap, and no packet ever
/// holds a pointer to the old one. IDPs are handed out sequentially from 1 and
/// never reused while the daemon runs; ``IDP/none`` (0) means "no next hop".
public struct IDP: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    @inlinable
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// "No next hop". A packet sent here is dropped as `no-next-hop`.
    @inlinable
    public static var none: IDP { IDP(0) }

    /// The largest IDP the registry hands out. Values above it are reserved
    /// for packet verdicts (see ``Verdict``).
    public static let maximum = IDP(0xFFFF_FEFF)

    /// Owner of a source whose block left the graph while it still held
    /// packets (never a block's IDP).
    static let retiredSource = IDP(0xFFFF_FFFE)

    @inlinable
    public var isNone: Bool { rawValue == 0 }

    @inlinable
    public static func < (lhs: IDP, rhs: IDP) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}

/// Which way a packet travels through the graph.
///
/// `ingress` is from the wire up towards applications, `egress` from
/// applications down to the wire. A block may turn a packet around.
public enum Direction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case ingress = 0
    case egress = 1

    @inlinable
    public var reversed: Direction { self == .ingress ? .egress : .ingress }

    public var description: String { self == .ingress ? "ingress" : "egress" }

    public init?(name: String) {
        switch name {
        case "ingress": self = .ingress
        case "egress": self = .egress
        default: return nil
        }
    }
}
