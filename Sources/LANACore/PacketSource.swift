/// Something that feeds packets into one engine: an `eth` block's receive
/// ring, or an in-memory generator for tests and benchmarks.
///
/// Each engine polls its own source objects (they are never shared between
/// engines), so a source needs no synchronization with itself. Sources are
/// listed per engine in the dispatch snapshot and change with it.
open class PacketSource: @unchecked Sendable {
    public init() {}

    /// Whether the source may hold packets of its engine's pool between
    /// calls (a block's queue, see ``FunctionalBlock/makeSources(entry:)``).
    /// Such a source outlives its block in the snapshot until
    /// ``isDrained``: only its engine may free what it holds.
    open var holdsPackets: Bool { false }

    /// Tells a source that holds packets that its block has left the graph
    /// (no engine can reach the block any more): on its next `receive` it
    /// frees what it holds, counted as dropped. Control thread.
    open func retire() {}

    /// A retired source that holds nothing any more; the registry then
    /// drops it from the snapshot.
    open var isDrained: Bool { true }

    /// Fills `out` with up to `max` packets allocated from `engine.pool`,
    /// their metadata set (address and length of the bytes, direction,
    /// `next` = the IDP they enter at). Returns how many. Called on the
    /// engine thread only.
    ///
    /// The bytes may stay in the source's own memory (a receive ring) until
    /// its next `receive`: the engine calls a source again only once every
    /// packet of the burst has left the graph, and before it sleeps.
    open func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        0
    }

    /// A file descriptor the engine polls while idle, or -1. Read on the
    /// engine thread before every sleep, so a source may offer it only
    /// while it waits for something (each descriptor polled makes every
    /// sleep dearer); the engine is woken after a ``retire()``.
    open var pollDescriptor: Int32 { -1 }

    /// Whether every packet this source delivered in its last `receive`
    /// enters the graph at the same IDP (read right after that call, on
    /// the engine thread). The engine then skips sorting a burst by entry
    /// point, and blocks see the burst's one direction.
    open var entersAtOneIDP: Bool { false }

    /// Called on the engine thread when `poll` reported an error or hang-up
    /// on ``pollDescriptor``. A source whose descriptor stays broken must
    /// stop offering it (return -1), or the engine would wake up at once
    /// again and again. Sources are released by the control plane after a
    /// grace period; close descriptors in `deinit`.
    open func descriptorFailed() {}
}
