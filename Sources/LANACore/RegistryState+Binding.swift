import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension RegistryState {
    // MARK: Bind / unbind

    /// `bind a b`: a on top of b (`a.egress = b`, `b.ingress = a`), plus a
    /// mutual subscription. A second bind on a side goes to that side's
    /// secondary port if the block type has one.
    mutating func bind(_ aName: String, _ bName: String, fx: inout RegistryEffects) throws(RegistryError) {
        let a = try idp(aName), b = try idp(bName)
        if a == b {
            throw RegistryError(Errno(rawValue: EINVAL), "cannot bind \(aName) on top of itself")
        }
        let ai = Int(a.rawValue), bi = Int(b.rawValue)
        let aPorts = nodes[ai]!.ports
        if aPorts.egress == b || aPorts.egressSecondary == b {
            throw RegistryError(Errno(rawValue: EEXIST), "\(aName) is already bound on top of \(bName)")
        }
        let aSecondary = try freePort(of: a, .egress)
        let bSecondary = try freePort(of: b, .ingress)
        if let path = egressPath(from: b, to: a) {
            throw RegistryError(Errno(rawValue: ELOOP),
                "binding \(aName) on top of \(bName) would create a loop: \(path.map { node($0).name }.joined(separator: " -> ")) -> \(bName)")
        }
        // In place: copying a node out and back costs a retain and release
        // of each of its fields, on the control channel's latency path.
        if aSecondary { nodes[ai]!.ports.egressSecondary = b } else { nodes[ai]!.ports.egress = b }
        if bSecondary { nodes[bi]!.ports.ingressSecondary = a } else { nodes[bi]!.ports.ingress = a }
        addSubscription(of: b, to: a, explicit: false)
        addSubscription(of: a, to: b, explicit: false)
        fx.events.append(BlockEvent(.bound, block: aName, idp: a, detail: "egress \(bName) \(b)"))
        fx.events.append(BlockEvent(.bound, block: bName, idp: b, detail: "ingress \(aName) \(a)"))
        fx.graphChanged = true
    }

    /// Whether a bind on `side` of `n` uses the secondary port; throws EBUSY
    /// if both are taken (or the type has no secondary port).
    private func freePort(of idp: IDP, _ side: Direction) throws(RegistryError) -> Bool {
        let ports = nodes[Int(idp.rawValue)]!.ports
        let primary = ports[side]
        if primary.isNone { return false }
        let n = node(idp)
        if n.type.hasSecondaryPorts {
            let secondary = ports.secondary(side)
            if secondary.isNone { return true }
            throw RegistryError(Errno(rawValue: EBUSY),
                "\(side) ports of \(n.name) are already bound to \(node(primary).name) and \(node(secondary).name)")
        }
        throw RegistryError(Errno(rawValue: EBUSY), "\(side) port of \(n.name) is already bound to \(node(primary).name)")
    }

    /// A path of egress links from `start` to `goal`, if one exists.
    private func egressPath(from start: IDP, to goal: IDP) -> [IDP]? {
        // The common case: nothing below `start` at all.
        let first = nodes[Int(start.rawValue)]!.ports
        if start != goal && first.egress.isNone && first.egressSecondary.isNone { return nil }
        var stack: [[IDP]] = [[start]]
        var seen: Set<IDP> = [start]
        while let path = stack.popLast() {
            let last = path.last!
            if last == goal { return path }
            let p = nodes[Int(last.rawValue)]!.ports
            for next in [p.egress, p.egressSecondary] where !next.isNone && !seen.contains(next) {
                seen.insert(next)
                stack.append(path + [next])
            }
        }
        return nil
    }

    mutating func unbind(_ aName: String, _ bName: String, fx: inout RegistryEffects) throws(RegistryError) {
        let a = try idp(aName), b = try idp(bName)
        let ai = Int(a.rawValue), bi = Int(b.rawValue)
        let aPorts = nodes[ai]!.ports, bPorts = nodes[bi]!.ports
        let aHas = aPorts.egress == b || aPorts.egressSecondary == b
        let bHas = bPorts.ingress == a || bPorts.ingressSecondary == a
        guard aHas && bHas else {
            throw RegistryError(Errno(rawValue: ENOENT), "\(aName) is not bound on top of \(bName)")
        }
        Self.clear(&nodes[ai]!.ports, .egress, b)
        Self.clear(&nodes[bi]!.ports, .ingress, a)
        dropBindSubscription(of: b, to: a)
        dropBindSubscription(of: a, to: b)
        fx.events.append(BlockEvent(.unbound, block: aName, idp: a, detail: "egress \(bName) \(b)"))
        fx.events.append(BlockEvent(.unbound, block: bName, idp: b, detail: "ingress \(aName) \(a)"))
        fx.graphChanged = true
    }

    /// Clears `idp` from a side; a secondary left alone moves up to primary,
    /// so "first bind on a side" stays the primary port.
    private static func clear(_ ports: inout BlockPorts, _ side: Direction, _ idp: IDP) {
        if ports[side] == idp {
            ports[side] = ports.secondary(side)
            ports.setSecondary(side, .none)
        } else if ports.secondary(side) == idp {
            ports.setSecondary(side, .none)
        }
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
        if on.type.isInterface || nn.type.isInterface {
            let which = on.type.isInterface ? oldName : newName
            throw RegistryError(Errno(rawValue: EINVAL), "\(which) is an interface block: vlink blocks cannot be replaced")
        }
        if !nn.ports.isUnbound {
            throw RegistryError(Errno(rawValue: EBUSY), "\(newName) is bound: a replacement must be unbound")
        }
        let subscribedElsewhere = nodes.contains { $0?.subscribers.contains { $0.idp == n } ?? false }
        if !nn.subscribers.isEmpty || subscribedElsewhere {
            throw RegistryError(Errno(rawValue: EBUSY), "\(newName) has subscriptions: a replacement must have none")
        }
        if !nn.type.hasSecondaryPorts && !(on.ports.ingressSecondary.isNone && on.ports.egressSecondary.isNone) {
            throw RegistryError(Errno(rawValue: EINVAL),
                "\(oldName) has a second block bound on a side; \(nn.type.name) blocks have no second port to take it")
        }
        let sameType = on.type.name == nn.type.name
        nodes[Int(o.rawValue)] = RegistryNode(name: on.name, type: nn.type, block: nn.block,
                                              ports: on.ports, subscribers: on.subscribers)
        nodes[Int(n.rawValue)] = nil
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
    /// and from it: what happens to an interface block whose interface
    /// disappeared, before it is removed.
    mutating func detach(_ name: String, fx: inout RegistryEffects) throws(RegistryError) {
        let idp = try idp(name)
        let p = node(idp).ports
        for upper in [p.ingress, p.ingressSecondary] where !upper.isNone {
            try unbind(node(upper).name, name, fx: &fx)
        }
        for lower in [p.egress, p.egressSecondary] where !lower.isNone {
            try unbind(name, node(lower).name, fx: &fx)
        }
        for i in nodes.indices where nodes[i] != nil {
            nodes[i]!.subscribers.removeAll { $0.idp == idp }
        }
        nodes[Int(idp.rawValue)]!.subscribers.removeAll()
    }
}
