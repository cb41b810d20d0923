/// A block's outgoing ports as the engine sees them in a dispatch snapshot.
///
/// Every block has two default ports: `up`, where packets travelling in the
/// ingress direction leave it, and `down`, for the egress direction.
/// `bind a b` ("a on top of b") fills `a.down = b` and `b.up = a`. A block
/// type may declare more ports (see ``PortDeclaration``): fixed ones such as
/// tee's `up.clone`, reached with ``extra(_:)`` by their index in the
/// declaration, and families such as one upper port per protocol type,
/// reached with ``member(_:)`` by a 32-bit key.
///
/// Ports live in the immutable dispatch snapshot, not in the block, so a
/// bind is one atomic table swap and the engine never sees half of it. The
/// names are resolved when the snapshot is built: nothing here is a string.
/// The pointers point into the ``DispatchTable`` that holds this value and
/// are valid as long as it is (for the duration of a block call).
public struct BlockPorts: @unchecked Sendable {
    public let up: IDP
    public let down: IDP
    @usableFromInline let extras: UnsafePointer<IDP>?
    @usableFromInline let members: UnsafePointer<PortMember>?
    @usableFromInline let memberCount: Int

    @inlinable
    init(up: IDP, down: IDP, extras: UnsafePointer<IDP>?, members: UnsafePointer<PortMember>?, memberCount: Int) {
        self.up = up; self.down = down; self.extras = extras
        self.members = members; self.memberCount = memberCount
    }

    public static let unbound = BlockPorts(up: .none, down: .none, extras: nil, members: nil, memberCount: 0)

    /// The default port for packets travelling in `direction`: `up` for
    /// ingress, `down` for egress.
    @inlinable
    public subscript(direction: Direction) -> IDP {
        direction == .ingress ? up : down
    }

    /// The fixed extra port at `index` of the block type's
    /// ``BlockType/extraPorts``.
    @inlinable
    public func extra(_ index: Int) -> IDP {
        guard let extras else { return .none }
        return extras[index]
    }

    /// Whether any member of the type's port families is bound (a block
    /// can then skip reading the key of each packet).
    @inlinable
    public var hasMembers: Bool { memberCount != 0 }

    /// The family member bound under `key`, or ``IDP/none``. Members are
    /// sorted by key: a binary search, a few compares for a few members.
    @inlinable
    public func member(_ key: UInt32) -> IDP {
        guard let members else { return .none }
        var lo = 0, hi = memberCount
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            let k = members[mid].key
            if k == key { return members[mid].idp }
            if k < key { lo = mid &+ 1 } else { hi = mid }
        }
        return .none
    }

    /// Forward along `direction`'s default port. An unbound `up` is the end
    /// of the packet's path (the top of the graph, counted as `ended`); an
    /// unbound `down` is a drop (`unbound-port`): the packet was meant for
    /// the wire.
    @inlinable
    public func verdict(for direction: Direction) -> Verdict {
        if direction == .ingress {
            return up.isNone ? .end : .forward(up)
        }
        return down.isNone ? .drop(.unboundPort) : .forward(down)
    }
}

/// One bound member of a port family in a snapshot.
public struct PortMember: Equatable, Sendable {
    public let key: UInt32
    public let idp: IDP
    @inlinable
    public init(key: UInt32, idp: IDP) { self.key = key; self.idp = idp }
}

/// A side of a block: where a port's packets go.
public enum PortSide: Sendable, Equatable, CustomStringConvertible {
    /// Towards the blocks bound on top (ingress packets leave here).
    case upper
    /// Towards the blocks below (egress packets leave here).
    case lower

    /// The side a port name belongs to: `up`, `up.*` or `down`, `down.*`.
    public init?(portName: String) {
        if portName == "up" || portName.hasPrefix("up.") { self = .upper }
        else if portName == "down" || portName.hasPrefix("down.") { self = .lower }
        else { return nil }
    }

    /// The side's default port.
    public var defaultPort: String { self == .upper ? "up" : "down" }

    public var description: String { self == .upper ? "upper" : "lower" }
}
