/// The registry as it was at one instant, for readers that present it
/// (the daemon's state files): names, types, IDPs, reference counts,
/// subscribers and statuses, all of the same ``version``.
///
/// Taking one costs a copy of the registry's value under its lock (arrays
/// are shared, not copied), so a reader walks the whole graph without
/// holding up control operations.
public struct RegistrySnapshot {
    /// One block.
    public struct Block: Sendable {
        public let name: String
        public let type: String
        public let idp: IDP
        /// Ports of other blocks pointing at this one, plus one for the
        /// registry itself.
        public let refs: Int
        /// IDPs that receive this block's events, newest first.
        public let subscribers: [IDP]
        /// The block's status (counter values, a loaded program), if its
        /// type has one: read when asked for, so it is current then.
        public var status: String? { block.statusText(configuration: configuration) ?? configuration?.statusText }

        let block: FunctionalBlock
        let configuration: BlockConfiguration?
    }

    private let state: RegistryState

    /// The registry's version this snapshot shows: it changes with every
    /// committed change, and only then.
    public var version: UInt64 { state.version }

    init(_ state: RegistryState) {
        self.state = state
    }

    /// Every block, ascending IDP. One pass counts all references, so this
    /// is linear in the number of blocks.
    public var blocks: [Block] {
        let references = state.referenceCounts()
        var result: [Block] = []
        result.reserveCapacity(state.nodes.count)
        // A node's index in `nodes` is its IDP.
        for (i, node) in state.nodes.enumerated() {
            guard let n = node else { continue }
            result.append(Block(name: n.name, type: n.type.name, idp: IDP(rawValue: UInt32(i)), refs: 1 + references[i],
                                subscribers: n.subscribers.map(\.idp), block: n.block, configuration: n.configuration))
        }
        return result
    }
}

extension Registry {
    /// The registry now; see ``RegistrySnapshot``.
    public func snapshot() -> RegistrySnapshot {
        withLockedState { RegistrySnapshot($0) }
    }

    /// The registry's version now: it changes with every committed change.
    public var version: UInt64 {
        withLockedState { $0.version }
    }
}

extension RegistryState {
    /// Per IDP, how many ports of other blocks point at it. One pass, so
    /// listing stays linear in the number of blocks.
    func referenceCounts() -> [Int] {
        var references = [Int](repeating: 0, count: nodes.count)
        func count(_ idp: IDP) {
            let i = Int(idp.rawValue)
            if !idp.isNone && references.indices.contains(i) { references[i] += 1 }
        }
        for case let o? in nodes {
            for binding in o.ports.bindings { count(binding.idp) }
        }
        return references
    }
}
