import CLANASupport
import LANACore
import LANAPosix

/// One engine's receive path of an ``EthBlock``: a packet socket with a
/// `TPACKET_V3` ring in the interface's fanout group. Frames enter the graph
/// at the block's IDP going ingress.
///
/// Zero copy: a packet's bytes stay in the ring, where the kernel wrote
/// them; the packet takes only a handle (its metadata) from the engine's
/// pool. The ring blocks are given back to the kernel at the next
/// `receive`, which the engine makes only once the burst has left the graph
/// (see ``PacketPool/detach(_:)`` for a block that keeps a packet longer).
/// Why: the frame's cache lines were written by the CPU that received it;
/// copying them cost two more cache-line transfers per frame than reading
/// the ring's header does, and a chain that never reads the bytes (dummy,
/// counter) now never fetches them.
public final class EthSource: PacketSource, @unchecked Sendable {
    public let socket: PacketSocket
    private let block: EthBlock
    private let entry: IDP
    private let slot: UnsafeMutablePointer<UInt64>
    private let ifindex: UInt32
    /// 1 once the descriptor failed for good (interface gone).
    private let failed: UnsafeMutablePointer<UInt64>

    /// - Parameters:
    ///   - engine: index of the engine that will poll this source.
    public init(socket: PacketSocket, block: EthBlock, entry: IDP, engine: Int) {
        self.socket = socket
        self.block = block
        self.entry = entry
        slot = block.counters + engine * EthBlock.slotWords
        ifindex = UInt32(bitPattern: socket.interfaceIndex)
        failed = .allocate(capacity: 1)
        failed.initialize(to: 0)
    }

    deinit { failed.deallocate() }

    public var hasFailed: Bool { lana_load_relaxed_u64(failed) != 0 }

    public override var pollDescriptor: Int32 {
        lana_load_relaxed_u64(failed) != 0 ? -1 : socket.descriptor.rawValue
    }

    public override func descriptorFailed() {
        // A transient error (link flap) is cleared by reading it; an
        // interface that is gone stays gone.
        _ = try? socket.takePendingError()
        if case .gone = socket.linkState() { lana_store_relaxed_u64(failed, 1) }
    }

    public override var entersAtOneIDP: Bool { true }

    /// Hands up to `max` frames to the engine as packets, their bytes in
    /// the ring. One loop walks the ring and makes the packets: per frame
    /// a header read, a length check, a buffer handle off the pool's stack
    /// and a metadata store — no call, no closure, no copy, no VLAN or
    /// packet-type decoding (blocks that need those read them from the
    /// frame). A frame whose VLAN tag the kernel took out has it back (the
    /// ring walk puts it in place, as on the wire), so counts and blocks
    /// see the frame that arrived. Releasing the frames of the previous
    /// call is the walk's first step.
    public override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let pool = engine.pool
        var top = pool.freeTop
        // No buffer left (blocks hold them all): the waiting frames are
        // dropped, or the ring would stay readable and the engine spin.
        if _slowPath(top == 0) { return dropWaiting(max: max, engine: engine) }
        let limit = pool.maximumFrameLength
        let template = PacketMeta(receivedLength: 0, address: 0, entry: entry.rawValue, direction: .ingress,
                                  ifindex: ifindex, engine: pool.engine)
        // The next handle's place: one register where an index and the base
        // took two (the loop is short of registers).
        var next = out
        var bytes = 0
        // Oversize frames (ones a clone or a detach could not hold): rare,
        // counted apart from the loop's own state.
        var oversize = 0
        var oversizeBytes = 0
        // No more frames than buffers: the rest wait in the ring, so the
        // loop needs no test for an empty pool.
        let prefetch = lana_load_relaxed_u64(slot + EthBlock.Slot.prefetch.rawValue) != 0
        let count = socket.takeFrames(max: Swift.min(max, top)) { _, frame, length in
            // The first block above reads the bytes: their line is fetched
            // while the walk goes on (see EthConfiguration). A test per
            // frame, predicted: two copies of the walk cost more.
            if prefetch { lana_prefetch(frame) }
            if _fastPath(length <= limit) {
                let h = pool.take(below: &top)
                next.pointee = h
                next += 1
                let m = pool.meta(h)
                template.store(to: m)
                m.pointee.address = UInt(bitPattern: frame)
                m.pointee.length = UInt32(truncatingIfNeeded: length)
                bytes &+= length
            } else {
                oversize &+= 1
                oversizeBytes &+= length
            }
        }
        let unrestored = socket.takeUnrestoredTags()
        if _slowPath(unrestored.frames != 0) { dropUnrestored(unrestored, engine: engine) }
        if count == 0 { return 0 }
        pool.commitTake(top: top)
        let n = next - out
        if n > 0 {
            lana_add_owned_u64(slot + EthBlock.Slot.rxPackets.rawValue, UInt64(n))
            lana_add_owned_u64(slot + EthBlock.Slot.rxBytes.rawValue, UInt64(bytes))
            engine.reportReceived(bytes: bytes, direction: .ingress)
        }
        if oversize > 0 {
            engine.dropOnArrival(.oversize, count: oversize, bytes: oversizeBytes)
            lana_add_owned_u64(slot + EthBlock.Slot.rxDropped.rawValue, UInt64(oversize))
        }
        return n
    }

    /// Takes up to `max` waiting frames out of the ring as drops: `pool-empty`
    /// (or `oversize`, which they would have been anyway).
    @inline(never)
    private func dropWaiting(max: Int, engine: EngineContext) -> Int {
        let limit = engine.pool.maximumFrameLength
        let count = socket.takeFrames(max: max) { _, _, length in
            engine.dropOnArrival(length > limit ? .oversize : .poolEmpty, count: 1, bytes: length)
        }
        if count > 0 { lana_add_owned_u64(slot + EthBlock.Slot.rxDropped.rawValue, UInt64(count)) }
        let unrestored = socket.takeUnrestoredTags()
        if unrestored.frames != 0 { dropUnrestored(unrestored, engine: engine) }
        return 0
    }

    /// Counts tagged frames the ring walk skipped because it could not put
    /// their tag back (`vlan-headroom`).
    @inline(never)
    private func dropUnrestored(_ unrestored: (frames: Int, bytes: Int), engine: EngineContext) {
        engine.dropOnArrival(.vlanHeadroom, count: unrestored.frames, bytes: unrestored.bytes)
        lana_add_owned_u64(slot + EthBlock.Slot.rxDropped.rawValue, UInt64(unrestored.frames))
    }
}

