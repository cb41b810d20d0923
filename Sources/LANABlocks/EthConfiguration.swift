import LANACore

/// An `eth` block's configuration: nothing to set, only what its binds
/// say. When a block bound above it reads frames' bytes (anything but
/// `dummy` and `counter`), the receive loop asks for each frame's first
/// cache line as it walks the ring: the bytes were written on the CPU that
/// received them, and the first block to read them would otherwise wait for
/// them frame after frame. A chain that never reads them never fetches them.
public final class EthConfiguration: BlockConfiguration, @unchecked Sendable {
    /// Prefetch each received frame's first cache line.
    public let prefetch: Bool

    init(prefetch: Bool) {
        self.prefetch = prefetch
        super.init()
    }

    public override var values: [(key: String, value: String)] { [("prefetch", prefetch ? "on" : "off")] }

    /// Whether a block of this kind, bound above, reads the frames' bytes.
    static func readsFrames(_ block: FunctionalBlock) -> Bool {
        !(block is CounterBlock || block is DummyBlock)
    }

    static let configurator = BlockType.Configurator(
        initial: { EthConfiguration(prefetch: false) },
        derive: { current, neighbours in
            let prefetch = neighbours.contains { $0.side == .upper && readsFrames($0.block) }
            return prefetch == (current as! EthConfiguration).prefetch ? nil : EthConfiguration(prefetch: prefetch)
        }
    ) { _, key, _ throws(BlockOptionError) in
        throw BlockOptionError("unknown option \(key)")
    }
}
