/// A block's outgoing ports as the engine sees them in a dispatch snapshot.
///
/// `bind a b` ("a on top of b") sets `a.egress = b` and `b.ingress = a`.
/// Block types that allow it (tee, bpf) take a second bind per side into the
/// side's *secondary* port: tee's clone port, bpf's no-match port.
/// Ports live in the immutable dispatch snapshot, not in the block, so a bind
/// is one atomic table swap and the engine never sees half of it.
public struct BlockPorts: Equatable, Sendable {
    public var ingress: IDP
    public var egress: IDP
    public var ingressSecondary: IDP
    public var egressSecondary: IDP

    @inlinable
    public init(ingress: IDP = .none, egress: IDP = .none,
                ingressSecondary: IDP = .none, egressSecondary: IDP = .none) {
        self.ingress = ingress; self.egress = egress
        self.ingressSecondary = ingressSecondary; self.egressSecondary = egressSecondary
    }

    public static let unbound = BlockPorts()

    @inlinable
    public subscript(direction: Direction) -> IDP {
        get { direction == .ingress ? ingress : egress }
        set { if direction == .ingress { ingress = newValue } else { egress = newValue } }
    }

    @inlinable
    public func secondary(_ direction: Direction) -> IDP {
        direction == .ingress ? ingressSecondary : egressSecondary
    }

    @inlinable
    public mutating func setSecondary(_ direction: Direction, _ idp: IDP) {
        if direction == .ingress { ingressSecondary = idp } else { egressSecondary = idp }
    }

    /// Forward along `direction`, or drop as `unbound-port`.
    @inlinable
    public func verdict(for direction: Direction) -> Verdict {
        let p = self[direction]
        return p.isNone ? .drop(.unboundPort) : .forward(p)
    }

    /// All bound IDPs, primary before secondary, ingress before egress.
    public var bound: [IDP] {
        [ingress, ingressSecondary, egress, egressSecondary].filter { !$0.isNone }
    }

    public var isUnbound: Bool { bound.isEmpty }
}
