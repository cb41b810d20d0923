/// A block's bound ports as the control plane keeps them: port name →
/// neighbour IDP. ``DispatchTable`` turns this into the ``BlockPorts`` the
/// engine reads (names resolved to slots once, when a snapshot is built).
///
/// Kept in display order: `up`, then the other upper ports by name, then
/// `down` and the other lower ports, so that `fbctl show`, `list` and the
/// events list them the same way every time.
public struct BoundPorts: Equatable, Sendable {
    public struct Binding: Equatable, Sendable {
        public let port: PortReference
        public let idp: IDP
        public var name: String { port.name }
        public var side: PortSide { port.side }
    }

    public private(set) var bindings: [Binding] = []

    public init() {}

    public static let unbound = BoundPorts()

    public var isUnbound: Bool { bindings.isEmpty }

    /// The IDP bound to the port called `name`, or ``IDP/none``.
    public subscript(name: String) -> IDP {
        bindings.first { $0.name == name }?.idp ?? .none
    }

    /// The IDP on a side's default port (`up` or `down`).
    public subscript(side: PortSide) -> IDP { self[side.defaultPort] }

    /// Bindings of one side.
    public func on(_ side: PortSide) -> [Binding] { bindings.filter { $0.side == side } }

    /// The port on `side` that is bound to `idp`, if any.
    public func port(on side: PortSide, to idp: IDP) -> Binding? {
        bindings.first { $0.side == side && $0.idp == idp }
    }

    /// Every bound neighbour, in display order (a block bound on two ports
    /// appears twice).
    public var neighbours: [IDP] { bindings.map(\.idp) }

    mutating func bind(_ port: PortReference, to idp: IDP) {
        bindings.removeAll { $0.name == port.name }
        bindings.append(Binding(port: port, idp: idp))
        bindings.sort { Self.order($0.port) < Self.order($1.port) }
    }

    mutating func unbind(_ name: String) {
        bindings.removeAll { $0.name == name }
    }

    /// Sort key: side, default port first, then by name.
    private static func order(_ p: PortReference) -> (Int, Int, String) {
        (p.side == .upper ? 0 : 1, p.slot == .standard ? 0 : 1, p.name)
    }

    public static func == (a: BoundPorts, b: BoundPorts) -> Bool { a.bindings == b.bindings }
}
