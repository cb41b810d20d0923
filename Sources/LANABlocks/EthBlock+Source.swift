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
    /// the ring. Per frame this is a length check and a metadata store: no
    /// call, no closure, no copy, no VLAN or packet-type decoding (blocks
    /// that need those read them from the frame). Releasing the frames of
    /// the previous call is `takeFrames`'s first step.
    public override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let frames = socket.takeFrames(max: max)
        let count = frames.count
        if count == 0 { return 0 }
        let pool = engine.pool
        let limit = pool.maximumFrameLength
        let taken = pool.take(into: out, count: count)
        let template = PacketMeta(receivedLength: 0, address: 0, entry: entry.rawValue, direction: .ingress,
                                  ifindex: ifindex, engine: pool.engine)
        let start = frames.baseAddress.unsafelyUnwrapped
        var n = 0
        var bytes = 0
        var i = 0
        // While there are handles: only oversize frames (ones a clone or a
        // detach could not hold) are dropped.
        while i < count && n < taken {
            let frame = start[i].bytes
            let length = frame.count
            if _fastPath(length <= limit) {
                let m = pool.meta(out[n])
                template.store(to: m)
                m.pointee.address = UInt(bitPattern: frame.baseAddress)
                m.pointee.length = UInt32(truncatingIfNeeded: length)
                n &+= 1
                bytes &+= length
            } else {
                engine.dropOnArrival(.oversize, bytes: length)
            }
            i &+= 1
        }
        // The pool ran dry: the rest are dropped as such.
        while i < count {
            let length = start[i].bytes.count
            engine.dropOnArrival(length > limit ? .oversize : .poolEmpty, bytes: length)
            i &+= 1
        }
        // Handles left over by oversize frames.
        if n < taken { pool.free(UnsafePointer(out + n), count: taken &- n) }
        if n > 0 {
            lana_add_owned_u64(slot + EthBlock.Slot.rxPackets.rawValue, UInt64(n))
            lana_add_owned_u64(slot + EthBlock.Slot.rxBytes.rawValue, UInt64(bytes))
            engine.reportReceived(bytes: bytes, direction: .ingress)
        }
        if n < count { lana_add_owned_u64(slot + EthBlock.Slot.rxDropped.rawValue, UInt64(count &- n)) }
        return n
    }
}

