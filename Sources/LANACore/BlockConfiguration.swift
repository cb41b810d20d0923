/// A block's options as one immutable value, published in the dispatch
/// snapshot next to the block.
///
/// `fbctl set <block> key=value` never touches the block: the block type's
/// ``BlockType/Configurator`` parses the option *once*, without side
/// effects, into either a new configuration (a subclass of this, all
/// `let`s) or an action to run on the block. The registry keeps the
/// configuration with the block's node and publishes it in the next
/// snapshot, so there is one read-copy-update mechanism for the graph and
/// for options alike: engines see the old configuration or the new one,
/// never half of it, and the old one is freed after the grace period with
/// the snapshot that held it. A type whose blocks own resources (sockets,
/// shared memory) never acquires them just to check an option.
///
/// A block reads its configuration in `process` with
/// ``BlockContext/withConfiguration(_:_:)`` (no reference counting).
open class BlockConfiguration: @unchecked Sendable {
    public init() {}

    /// The current settings for `fbctl show`, as `(key, value)` pairs.
    open var values: [(key: String, value: String)] { [] }

    /// The block's status file `fblock/<name>` when it shows configuration
    /// (a bpf block's program), if the block itself has none.
    open var statusText: String? { nil }

    /// Lines for `fbctl show` before the block's own detail lines.
    open var detailLines: [String] { [] }
}

/// What one `key=value` does, as the block type's configurator parsed it.
public enum OptionEffect: Sendable {
    /// The block's configuration from the next snapshot on.
    case configure(BlockConfiguration)
    /// Something to do to the block once the change is committed (a
    /// counter's `reset=1`); it cannot fail, because everything that could
    /// was checked when the option was parsed.
    case act(@Sendable (FunctionalBlock) -> Void)
}

extension BlockType {
    /// How a block type's options are parsed: its initial configuration and
    /// a pure function from (current configuration, key, value) to an
    /// ``OptionEffect``, throwing ``BlockOptionError`` for a bad value.
    public struct Configurator: Sendable {
        public let initial: @Sendable () -> BlockConfiguration
        public let apply: @Sendable (BlockConfiguration, String, String) throws(BlockOptionError) -> OptionEffect
        /// What a block learns from the blocks bound to it (an `arp` block:
        /// its interface's link address from the `eth` below, the local
        /// addresses of the `flip` blocks above): called at every commit
        /// with the block's configuration and its neighbours as they will
        /// be published; returns the configuration to publish instead, or
        /// `nil` if nothing changed. So what a bind teaches a block is in
        /// the same snapshot as the bind.
        public let derive: (@Sendable (BlockConfiguration, [BlockNeighbour]) -> BlockConfiguration?)?

        public init(initial: @escaping @Sendable () -> BlockConfiguration,
                    derive: (@Sendable (BlockConfiguration, [BlockNeighbour]) -> BlockConfiguration?)? = nil,
                    apply: @escaping @Sendable (BlockConfiguration, String, String) throws(BlockOptionError) -> OptionEffect) {
            self.initial = initial
            self.derive = derive
            self.apply = apply
        }
    }
}

/// A block bound to one of another block's ports, as
/// ``BlockType/Configurator/derive`` sees it.
public struct BlockNeighbour: @unchecked Sendable {
    /// The port (of the block being derived) the neighbour is bound to.
    public let port: String
    public let side: PortSide
    public let name: String
    public let block: FunctionalBlock
    public let configuration: BlockConfiguration?
}

extension RegistryState {
    /// Applies every derive hook to the state about to be committed.
    /// `true` if a configuration changed.
    mutating func refreshDerivedConfigurations() -> Bool {
        var changed = false
        for i in nodes.indices {
            guard let n = nodes[i], let derive = n.type.configurator?.derive, let current = n.configuration else { continue }
            let neighbours = n.ports.bindings.compactMap { b -> BlockNeighbour? in
                guard let other = nodes[Int(b.idp.rawValue)] else { return nil }
                return BlockNeighbour(port: b.name, side: b.side, name: other.name, block: other.block,
                                      configuration: other.configuration)
            }
            if let updated = derive(current, neighbours) {
                nodes[i]!.configuration = updated
                changed = true
            }
        }
        return changed
    }
}
