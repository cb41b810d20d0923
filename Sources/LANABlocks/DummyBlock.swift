import LANACore

/// `dummy`: forwards every packet unchanged along its direction.
///
/// The template for new block types: a `BlockType` with a factory, and a
/// `process` that writes a verdict for each packet of the burst.
public final class DummyBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(name: "dummy", summary: "forwards every packet unchanged") { _ in
        DummyBlock()
    }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        burst.forwardAll(context.ports)
    }
}
