import CLANASupport

/// What a block may use of the engine that runs it, for the duration of one
/// call: its pool, its backlog for packets the block creates, and its
/// counters. A trivially copyable view (no reference counting).
public struct EngineContext {
    public let index: Int
    public let pool: PacketPool
    @usableFromInline let backlog: Backlog
    @usableFromInline let stats: EngineStatsSlot
    /// Filled by a source that reports its frames (see
    /// ``reportReceived(bytes:direction:)``); the engine clears it.
    @usableFromInline let report: UnsafeMutablePointer<SourceReport>

    @inlinable
    init(index: Int, pool: PacketPool, backlog: Backlog, stats: EngineStatsSlot,
         report: UnsafeMutablePointer<SourceReport>) {
        self.index = index; self.pool = pool; self.backlog = backlog; self.stats = stats
        self.report = report
    }

    /// Tells the engine, from a source's `receive`, the total length and
    /// the one direction of the frames this call delivered, so that it
    /// need not read every packet's metadata again to count them. Optional:
    /// without it the engine looks at each packet.
    @inlinable
    public func reportReceived(bytes: Int, direction: Direction) {
        report.pointee = SourceReport(bytes: UInt64(truncatingIfNeeded: bytes), direction: direction.rawValue, valid: true)
    }

    /// Copies a packet for a second path. The copy counts as created by the
    /// engine. `nil` (counted as `pool-empty`) when the pool is exhausted.
    @inlinable
    public func clone(_ packet: Packet) -> Packet? {
        // A copy that finds no buffer counts as created and dropped, so the
        // ledger (received + created = ended + delivered + dropped) holds.
        stats.add(.created, 1)
        guard let h = pool.clone(packet.handle) else {
            stats.countDrop(.poolEmpty, 1)
            return nil
        }
        return pool.packet(h)
    }

    /// Makes sure a packet's bytes are in its own buffer, so the block may
    /// keep the packet after its call returns (a queue waiting for an
    /// address, say): a received packet's bytes may still be in the ring
    /// they arrived in, which goes back to the kernel after the burst.
    /// `false` if the frame does not fit a buffer (then drop it).
    @inlinable
    public func detach(_ packet: Packet) -> Bool {
        pool.detach(packet.handle)
    }

    /// Allocates an empty packet (for replies a block sends on its own).
    @inlinable
    public func allocate() -> Packet? {
        stats.add(.created, 1)
        guard let h = pool.allocate() else {
            stats.countDrop(.poolEmpty, 1)
            return nil
        }
        return pool.packet(h)
    }

    /// Queues a packet the block created, to be processed in this engine's
    /// loop after the current burst, starting at `to`. When the backlog is
    /// full the packet is freed and counted as `backlog-full`; returns
    /// whether it was queued.
    @inlinable
    @discardableResult
    public func enqueue(_ packet: Packet, to idp: IDP, from source: IDP) -> Bool {
        packet.meta.pointee.next = idp.rawValue
        packet.meta.pointee.source = source.rawValue
        if backlog.push(packet.handle) {
            stats.add(.backlogEnqueued, 1)
            return true
        }
        pool.free(packet.handle)
        stats.countDrop(.backlogFull, 1)
        return false
    }

    /// Frees a packet the block held past its call (a queue waiting for an
    /// address) and counts it as dropped for `reason`.
    @inlinable
    public func drop(_ packet: Packet, _ reason: DropReason) {
        stats.countDrop(reason, 1)
        pool.free(packet.handle)
    }

    /// Frees a packet the block took ownership of (verdict `.consumed`).
    @inlinable
    public func free(_ packet: Packet) {
        pool.free(packet.handle)
    }

    /// Counts frames a source received but could not hand to the graph
    /// (no buffer, too long), `bytes` in all: they count as received and
    /// as dropped, so the engine's ledger (received + created = delivered
    /// + drops) holds.
    @inlinable
    public func dropOnArrival(_ reason: DropReason, count: Int = 1, bytes: Int) {
        stats.add(.received, UInt64(count))
        stats.add(.receivedBytes, UInt64(bytes))
        stats.countDrop(reason, UInt64(count))
    }

    /// Counts a packet the block consumed for good (transmitted, delivered).
    @inlinable
    public func countDelivered(_ n: Int) {
        stats.add(.delivered, UInt64(n))
    }
}

/// What a source reported about the frames of one `receive` call.
public struct SourceReport {
    @usableFromInline var bytes: UInt64
    @usableFromInline var direction: UInt8
    @usableFromInline var valid: Bool

    @inlinable
    init(bytes: UInt64, direction: UInt8, valid: Bool) {
        self.bytes = bytes; self.direction = direction; self.valid = valid
    }
}

/// Everything a block needs to handle one burst: its own IDP, its current
/// ports (from the same snapshot as the lookup that found it) and the engine.
/// Valid for the duration of the call only: it points into the engine.
public struct BlockContext {
    public let idp: IDP
    public let ports: BlockPorts
    /// The block's options in this snapshot (``BlockConfiguration``).
    @usableFromInline let configuration: Unmanaged<BlockConfiguration>?
    /// A pointer to the engine's context, not a copy (see ``Burst``): this
    /// is built for every block call.
    @usableFromInline let enginePointer: UnsafePointer<EngineContext>

    @inlinable
    init(idp: IDP, ports: BlockPorts, configuration: Unmanaged<BlockConfiguration>?,
         engine: UnsafePointer<EngineContext>) {
        self.idp = idp; self.ports = ports; self.configuration = configuration; self.enginePointer = engine
    }

    /// Calls `body` with the block's configuration from the snapshot this
    /// call runs under, as its type's subclass `type`, without reference
    /// counting (the snapshot keeps it alive for the call). Only for blocks
    /// whose type has a configurator making configurations of `type`.
    @inlinable
    public func withConfiguration<C: BlockConfiguration, R>(_ type: C.Type, _ body: (C) -> R) -> R {
        configuration.unsafelyUnwrapped._withUnsafeGuaranteedRef { body(unsafeDowncast($0, to: C.self)) }
    }

    /// The engine running this call.
    @inlinable
    public var engine: EngineContext { enginePointer.pointee }
}
