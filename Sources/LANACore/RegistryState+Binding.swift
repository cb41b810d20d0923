import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension RegistryState {
    // MARK: Bind / unbind

    /// `bind a b [port]`: a on top of b, plus a mutual subscription.
    /// Without a port name a fills its `down` and b its `up`; a side whose
    /// default port is taken takes a second bind in the port its type names
    /// for that (tee's clone, bpf's no-match). A port name `up…` is b's,
    /// `down…` is a's; the other side gets its default port.
    mutating func bind(_ aName: String, _ bName: String, port: String? = nil,
                       fx: inout RegistryEffects) throws(RegistryError) {
        let a = try idp(aName), b = try idp(bName)
        if a == b {
            throw RegistryError(Errno(rawValue: EINVAL), "cannot bind \(aName) on top of itself")
        }
        let ai = Int(a.rawValue), bi = Int(b.rawValue)
        if let existing = nodes[ai]!.ports.port(on: .lower, to: b) {
            throw RegistryError(Errno(rawValue: EEXIST), "\(aName) is already bound on top of \(bName) (port \(existing.name))")
        }
        var lowerPort: PortReference?   // a's port towards b
        var upperPort: PortReference?   // b's port towards a
        if let port {
            switch PortSide(portName: port) {
            case .upper?: upperPort = try namedPort(port, of: b)
            case .lower?: lowerPort = try namedPort(port, of: a)
            case nil:
                throw RegistryError(Errno(rawValue: EINVAL),
                    "invalid port name \(Self.quoted(port)): expected up, down, up.<name> (a port of \(bName)) or down.<name> (a port of \(aName))")
            }
        }
        let lower: PortReference, upper: PortReference
        if let lowerPort { lower = lowerPort } else { lower = try freePort(of: a, .lower) }
        if let upperPort { upper = upperPort } else { upper = try freePort(of: b, .upper) }
        try checkFree(lower, of: a)
        try checkFree(upper, of: b)
        if let path = egressPath(from: b, to: a) {
            throw RegistryError(Errno(rawValue: ELOOP),
                "binding \(aName) on top of \(bName) would create a loop: \(path.map { node($0).name }.joined(separator: " -> ")) -> \(bName)")
        }
        // In place: copying a node out and back costs a retain and release
        // of each of its fields, on the control channel's latency path.
        nodes[ai]!.ports.bind(lower, to: b)
        nodes[bi]!.ports.bind(upper, to: a)
        addSubscription(of: b, to: a, explicit: false)
        addSubscription(of: a, to: b, explicit: false)
        fx.events.append(BlockEvent(.bound, block: aName, idp: a, detail: "\(lower.name) \(bName) \(b)"))
        fx.events.append(BlockEvent(.bound, block: bName, idp: b, detail: "\(upper.name) \(aName) \(a)"))
        fx.graphChanged = true
    }

    /// `name` resolved against the type of the block at `idp`.
    private func namedPort(_ name: String, of idp: IDP) throws(RegistryError) -> PortReference {
        let n = node(idp)
        guard let port = n.type.port(named: name) else {
            throw RegistryError(Errno(rawValue: EINVAL),
                "\(n.name) has no port \(Self.quoted(name)): \(n.type.name) blocks have \(n.type.portNames.joined(separator: ", "))")
        }
        return port
    }

    /// The port a bind without a port name takes on `side` of `idp`: the
    /// default one, or the type's second-bind port when that is taken.
    private func freePort(of idp: IDP, _ side: PortSide) throws(RegistryError) -> PortReference {
        let n = node(idp)
        let primary = n.ports[side]
        if primary.isNone { return n.type.port(named: side.defaultPort)! }
        if let second = n.type.secondBindPort(side) {
            let other = n.ports[second]
            if other.isNone { return n.type.port(named: second)! }
            throw RegistryError(Errno(rawValue: EBUSY),
                "\(side) ports of \(n.name) are already bound: \(side.defaultPort) to \(node(primary).name), \(second) to \(node(other).name)")
        }
        throw RegistryError(Errno(rawValue: EBUSY), "port \(side.defaultPort) of \(n.name) is already bound to \(node(primary).name)")
    }

    private func checkFree(_ port: PortReference, of idp: IDP) throws(RegistryError) {
        let n = node(idp)
        let taken = n.ports[port.name]
        if !taken.isNone {
            throw RegistryError(Errno(rawValue: EBUSY), "port \(port.name) of \(n.name) is already bound to \(node(taken).name)")
        }
    }

    /// A path of links to lower blocks from `start` to `goal`, if one exists.
    private func egressPath(from start: IDP, to goal: IDP) -> [IDP]? {
        // The common case: nothing below `start` at all.
        if start != goal && nodes[Int(start.rawValue)]!.ports.on(.lower).isEmpty { return nil }
        var stack: [[IDP]] = [[start]]
        var seen: Set<IDP> = [start]
        while let path = stack.popLast() {
            let last = path.last!
            if last == goal { return path }
            for next in nodes[Int(last.rawValue)]!.ports.on(.lower).map(\.idp) where !seen.contains(next) {
                seen.insert(next)
                stack.append(path + [next])
            }
        }
        return nil
    }

    mutating func unbind(_ aName: String, _ bName: String, fx: inout RegistryEffects) throws(RegistryError) {
        let a = try idp(aName), b = try idp(bName)
        let ai = Int(a.rawValue), bi = Int(b.rawValue)
        guard let lower = nodes[ai]!.ports.port(on: .lower, to: b),
              let upper = nodes[bi]!.ports.port(on: .upper, to: a) else {
            throw RegistryError(Errno(rawValue: ENOENT), "\(aName) is not bound on top of \(bName)")
        }
        nodes[ai]!.ports.unbind(lower.name)
        nodes[bi]!.ports.unbind(upper.name)
        dropBindSubscription(of: b, to: a)
        dropBindSubscription(of: a, to: b)
        fx.events.append(BlockEvent(.unbound, block: aName, idp: a, detail: "\(lower.name) \(bName) \(b)"))
        fx.events.append(BlockEvent(.unbound, block: bName, idp: b, detail: "\(upper.name) \(aName) \(a)"))
        fx.graphChanged = true
    }

    // MARK: Subscriptions

    /// `subscriber` receives `publisher`'s events.
    mutating func addSubscription(of subscriber: IDP, to publisher: IDP, explicit: Bool) {
        let p = Int(publisher.rawValue)
        if let i = nodes[p]!.subscribers.firstIndex(where: { $0.idp == subscriber }) {
            if explicit { nodes[p]!.subscribers[i].explicit = true } else { nodes[p]!.subscribers[i].binds += 1 }
        } else {
            nodes[p]!.subscribers.insert(Subscription(idp: subscriber, explicit: explicit, binds: explicit ? 0 : 1), at: 0)
        }
    }

    private mutating func dropBindSubscription(of subscriber: IDP, to publisher: IDP) {
        let p = Int(publisher.rawValue)
        if let i = nodes[p]!.subscribers.firstIndex(where: { $0.idp == subscriber }) {
            nodes[p]!.subscribers[i].binds -= 1
            if !nodes[p]!.subscribers[i].isLive { nodes[p]!.subscribers.remove(at: i) }
        }
    }

    /// `subscribe a b`: b receives a's events.
    mutating func subscribe(_ aName: String, _ bName: String, fx: inout RegistryEffects) throws(RegistryError) {
        let a = try idp(aName), b = try idp(bName)
        if a == b { throw RegistryError(Errno(rawValue: EINVAL), "\(aName) cannot subscribe to itself") }
        if node(a).subscribers.contains(where: { $0.idp == b && $0.explicit }) {
            throw RegistryError(Errno(rawValue: EEXIST), "\(bName) is already subscribed to \(aName)")
        }
        addSubscription(of: b, to: a, explicit: true)
        fx.events.append(BlockEvent(.subscribed, block: aName, idp: a, detail: "\(bName) \(b)"))
    }

    mutating func unsubscribe(_ aName: String, _ bName: String, fx: inout RegistryEffects) throws(RegistryError) {
        let a = try idp(aName), b = try idp(bName)
        var n = node(a)
        guard let i = n.subscribers.firstIndex(where: { $0.idp == b && $0.explicit }) else {
            let viaBind = n.subscribers.contains { $0.idp == b }
            throw RegistryError(Errno(rawValue: ENOENT), viaBind
                ? "\(bName) receives \(aName)'s events only because they are bound: unbind them instead"
                : "\(bName) is not subscribed to \(aName)")
        }
        n.subscribers[i].explicit = false
        if !n.subscribers[i].isLive { n.subscribers.remove(at: i) }
        nodes[Int(a.rawValue)] = n
        fx.events.append(BlockEvent(.unsubscribed, block: aName, idp: a, detail: "\(bName) \(b)"))
    }

    // MARK: Replace

    /// `replace old new`: new takes over old's name, IDP, ports and
    /// subscriptions in one snapshot; old leaves. Same type and not `drop`:
    /// new adopts old's private state after the grace period.
    mutating func replace(_ oldName: String, with newName: String, dropState: Bool,
                          fx: inout RegistryEffects) throws(RegistryError) {
        let o = try idp(oldName), n = try idp(newName)
        if o == n { throw RegistryError(Errno(rawValue: EINVAL), "cannot replace \(oldName) with itself") }
        let on = node(o), nn = node(n)
        if on.type.isDevice || nn.type.isDevice {
            let which = on.type.isDevice ? oldName : newName
            throw RegistryError(Errno(rawValue: EINVAL), "\(which) stands for a device: device blocks cannot be replaced")
        }
        if !nn.ports.isUnbound {
            throw RegistryError(Errno(rawValue: EBUSY), "\(newName) is bound: a replacement must be unbound")
        }
        let subscribedElsewhere = nodes.contains { $0?.subscribers.contains { $0.idp == n } ?? false }
        if !nn.subscribers.isEmpty || subscribedElsewhere {
            throw RegistryError(Errno(rawValue: EBUSY), "\(newName) has subscriptions: a replacement must have none")
        }
        // The new block takes the old one's ports by name: each must exist
        // for its type (a cross-type replace must not lose a binding).
        var ports = BoundPorts()
        for binding in on.ports.bindings {
            guard let port = nn.type.port(named: binding.name) else {
                throw RegistryError(Errno(rawValue: EINVAL),
                    "\(oldName) has port \(binding.name) bound to \(node(binding.idp).name); \(nn.type.name) blocks have no such port")
            }
            ports.bind(port, to: binding.idp)
        }
        let sameType = on.type.name == nn.type.name
        // Same type, state moving: the options move with it.
        let configuration = sameType && !dropState ? on.configuration : nn.configuration
        nodes[Int(o.rawValue)] = RegistryNode(name: on.name, type: nn.type, block: nn.block, ports: ports,
                                              configuration: configuration, subscribers: on.subscribers)
        nodes[Int(n.rawValue)] = nil
        // The old block's sources go; the new one's enter at its new IDP.
        retireSources(of: o, fx: &fx)
        retireSources(of: n, fx: &fx)
        addSources(of: nn.block, entry: o)
        names.remove(newName)
        fx.removed.append(on.block)
        if sameType && !dropState { fx.adoptions.append((nn.block, on.block)) }
        fx.events.append(BlockEvent(.replaced, block: oldName, idp: o,
            detail: "by \(newName) (\(nn.type.name)\(dropState ? ", state dropped" : sameType ? ", state moved" : ""))"))
        fx.graphChanged = true
    }
}

extension RegistryState {
    /// Unbinds `name` from every neighbour and drops every subscription to
    /// and from it: what happens to a device's block whose resource
    /// disappeared, before it is removed.
    mutating func detach(_ name: String, fx: inout RegistryEffects) throws(RegistryError) {
        let idp = try idp(name)
        let p = node(idp).ports
        for upper in p.on(.upper) {
            try unbind(node(upper.idp).name, name, fx: &fx)
        }
        for lower in p.on(.lower) {
            try unbind(name, node(lower.idp).name, fx: &fx)
        }
        for i in nodes.indices where nodes[i] != nil {
            nodes[i]!.subscribers.removeAll { $0.idp == idp }
        }
        nodes[Int(idp.rawValue)]!.subscribers.removeAll()
    }
}
