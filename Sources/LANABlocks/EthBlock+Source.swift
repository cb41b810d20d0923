import CLANASupport
import LANACore
import LANAPosix

/// One engine's receive path of an ``EthBlock``: a packet socket with a
/// `TPACKET_V3` ring in the interface's fanout group. Frames are copied into
/// the engine's pool and enter the graph at the block's IDP going ingress.
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

    public override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let pool = engine.pool
        let limit = pool.maximumFrameLength
        let headroom = pool.headroom
        let entry = self.entry.rawValue
        let ifindex = self.ifindex
        var n = 0
        var bytes = 0
        var dropped: UInt64 = 0
        _ = socket.receiveBurst(max: max) { frame in
            let length = frame.bytes.count
            if length > limit {
                engine.dropOnArrival(.oversize, bytes: length)
                dropped &+= 1
                return
            }
            guard let h = pool.allocate() else {
                engine.dropOnArrival(.poolEmpty, bytes: length)
                dropped &+= 1
                return
            }
            if let base = frame.bytes.baseAddress {
                (pool.buffer(h) + headroom).copyMemory(from: base, byteCount: length)
            }
            let m = pool.meta(h)
            m.pointee.length = UInt32(truncatingIfNeeded: length)
            m.pointee.next = entry
            m.pointee.direction = .ingress
            m.pointee.ifindex = ifindex
            out[n] = h
            n &+= 1
            bytes &+= length
        }
        if n > 0 {
            lana_add_owned_u64(slot + EthBlock.Slot.rxPackets.rawValue, UInt64(n))
            lana_add_owned_u64(slot + EthBlock.Slot.rxBytes.rawValue, UInt64(bytes))
        }
        if dropped > 0 { lana_add_owned_u64(slot + EthBlock.Slot.rxDropped.rawValue, dropped) }
        return n
    }
}
