// Unsafe code: `remaining` lives in raw memory written only by the owning
// engine thread (read by others for progress); see EngineStats.swift for the
// relaxed single-writer pattern.

import CLANASupport

/// An in-memory packet source: copies a template frame into pool buffers,
/// `count` times, entering the graph at a given IDP. The test and benchmark
/// stand-in for a network interface. Each packet costs a buffer from the pool
/// and a copy of the frame: a little more than a frame from an `eth` block's
/// ring, whose bytes stay where the kernel wrote them.
public final class MemorySource: PacketSource, @unchecked Sendable {
    private let frame: [UInt8]
    private let frameBytes: UnsafeMutableRawPointer
    private let frameLength: Int
    private let entry: IDP
    private let direction: Direction
    private let ifindex: UInt32
    private let counter: UnsafeMutablePointer<UInt64>

    /// - Parameters:
    ///   - frame: bytes of every packet, from the Ethernet header.
    ///   - count: packets to produce; `UInt64.max` for endless.
    ///   - entry: IDP the packets enter at (with `direction`).
    public init(frame: [UInt8], count: UInt64, entry: IDP, direction: Direction = .ingress, ifindex: UInt32 = 0) {
        self.frame = frame
        frameLength = frame.count
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(frame.count, 1), alignment: 64)
        frame.withUnsafeBytes { if let b = $0.baseAddress { bytes.copyMemory(from: b, byteCount: $0.count) } }
        frameBytes = bytes
        self.entry = entry
        self.direction = direction
        self.ifindex = ifindex
        counter = .allocate(capacity: 1)
        counter.initialize(to: count)
    }

    deinit {
        frameBytes.deallocate()
        counter.deallocate()
    }

    /// Packets still to produce.
    public var remaining: UInt64 { lana_load_relaxed_u64(counter) }

    public override var entersAtOneIDP: Bool { true }

    public override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let left = lana_load_relaxed_u64(counter)
        if left == 0 { return 0 }
        let want = left < UInt64(max) ? Int(left) : max
        let pool = engine.pool
        let headroom = pool.headroom
        let length = UInt32(truncatingIfNeeded: frameLength)
        let n = pool.take(into: out, count: want)
        let metas = pool.metas
        let template = PacketMeta(receivedLength: length, address: 0, entry: entry.rawValue,
                                  direction: direction, ifindex: ifindex, engine: pool.engine)
        var i = 0
        while i < n {
            let h = out[i]
            let destination = pool.buffer(h) + headroom
            PacketPool.copyFrame(to: destination, from: frameBytes, count: frameLength)
            let m = metas + Int(h)
            template.store(to: m)
            m.pointee.address = UInt(bitPattern: destination)
            i &+= 1
        }
        if left != UInt64.max { lana_store_relaxed_u64(counter, left &- UInt64(n)) }
        engine.reportReceived(bytes: n &* frameLength, direction: direction)
        return n
    }
}
