/// The unit of packet processing.
///
/// A block type is a subclass; the registry makes instances through the
/// type's ``BlockType`` factory. The engine calls ``process(_:_:)`` with a
/// burst of packets that are all headed for this block, and the block writes
/// a ``Verdict`` into each: forward to an IDP, consumed, or dropped with a
/// reason. Everything else — events, state moving on `replace`, status
/// text — runs on the control thread. Options are not the block's business:
/// its type parses them into an immutable ``BlockConfiguration`` that the
/// registry publishes with the block (see ``BlockType/Configurator``).
///
/// Rules for the data path (they are what keeps an engine at tens of Mpps):
/// keep configuration in `let`s; keep per-engine mutable state in raw,
/// cache-line padded slots indexed by ``EngineContext/index``; never allocate,
/// lock or touch a `Dictionary` in ``process(_:_:)``. A packet belongs to
/// the burst: forward it, consume it or drop it; a block that keeps one past
/// its call must ``EngineContext/detach(_:)`` it first (its bytes may be in
/// a receive ring that goes back to the kernel after the burst).
///
/// The smallest useful block is `DummyBlock` in LANABlocks:
///
/// ```swift
/// public final class DummyBlock: FunctionalBlock {
///     public static let type = BlockType(name: "dummy", summary: "…") { _ in DummyBlock() }
///     public override func process(_ burst: Burst, _ context: BlockContext) {
///         burst.forwardAll(context.ports)
///     }
/// }
/// ```
open class FunctionalBlock: @unchecked Sendable {
    public init() {}

    // MARK: Data path (engine threads)

    /// Whether `process` reads a packet's ``Packet/source`` or
    /// ``Packet/hops``, or clones packets (a clone inherits them). The
    /// engine brings those fields up to date before calling such a block;
    /// for the others it may let them lag along a chain (see
    /// `Engine.drive`). Read once when the block enters a dispatch snapshot.
    open var readsPacketHistory: Bool { false }

    /// Handles a burst. The default calls ``receive(_:_:)`` for each packet;
    /// blocks that care about speed override this and loop themselves.
    open func process(_ burst: Burst, _ context: BlockContext) {
        var i = 0
        while i < burst.count {
            let p = burst[i]
            p.verdict = receive(p, context)
            i &+= 1
        }
    }

    /// Handles one packet. The default forwards along the packet's direction.
    open func receive(_ packet: Packet, _ context: BlockContext) -> Verdict {
        context.ports.verdict(for: packet.direction)
    }

    // MARK: Control path (control thread, serialized by the registry)

    /// Takes over the private state of `old`, a block of the same type that
    /// this one replaces. Called after no engine can see `old` any more.
    open func adoptState(from old: FunctionalBlock) {}

    /// Receives events of blocks this one subscribed to.
    open func handleEvent(_ event: BlockEvent) {}

    /// Content of the block's status file `fblock/<name>`, or `nil` for none.
    open func statusText() -> String? { nil }

    /// The status file of a block whose status also shows its options
    /// (`arp`'s static entries beside its table). The default is
    /// ``statusText()``.
    open func statusText(configuration: BlockConfiguration?) -> String? { statusText() }

    /// Extra lines for `fbctl show` (counters split per engine, …).
    open func detailLines() -> [String] { [] }

    /// Called once when the block leaves the registry (before reclamation).
    open func willRemove() {}

    /// Sources of this block's own, one per engine (or none), whose packets
    /// enter at `entry`, the block's IDP: a queue of packets waiting for
    /// something (an address resolution) that the engine must release or
    /// expire even while no packet reaches the block. Called when the block
    /// is added, and again with its new IDP when it replaces another; each
    /// call makes fresh sources. When the block leaves, its sources are
    /// ``PacketSource/retire()``d rather than dropped, so that the engine
    /// frees the packets they still hold.
    open func makeSources(entry: IDP) -> [PacketSource] { [] }
}

/// A refused option, with the text the user sees after `EINVAL`.
public struct BlockOptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
